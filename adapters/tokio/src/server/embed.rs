//! Embedding in a hyper or axum application (feature `hyper`): [`HttpService`], a
//! tower `Service` that answers every route of the server inside the application's own
//! HTTP server.
//!
//! The request head goes to the core's `Router`, exactly as on the server's own sockets
//! (docs/architecture.md#the-http-side); the service only carries the decision out:
//! an accepted upgrade is answered with the core's `101` and, once hyper hands the
//! connection over, runs on the server's worker thread like every connection of the
//! server (same core, rooms, actions and hooks); `/api` requests go to the worker
//! with their bodies; static files are read on a blocking thread. What the service cannot carry out is answered with the core's
//! [`Unserved`] responses.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actionhero_ws::handshake::{self, Handshake};
use actionhero_ws::http::{ApiCall, ApiRequest, HttpResponse, RequestContext, Route, Unserved};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::conn;
use super::stream::ServerIo;
use super::worker::Worker;
use super::{Command, ServerHandle};
use crate::trace;

/// The server's HTTP side as a tower [`Service`](tower_service::Service): Primus
/// upgrades and its plain routes (`/primus/spec`, `/primus/primus.js`), `/api`, the
/// generated client library and the public directory, all decided by the core as on
/// the server's own listener. Made by [`ServerHandle::http_service`]; cheap to clone.
///
/// Route to it the paths the core should answer: the handshake configuration's
/// `pathname` (default `/primus`, and everything under it), and for the browser routes
/// the web configuration's `api_path` and `public_path` (default `/api`, `/public`), or
/// simply make it the fallback of the application's router. With axum:
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use actionhero_ws_tokio::ServerBuilder;
/// use axum::routing::get;
///
/// let server = ServerBuilder::new().room("defaultRoom").start()?;
/// let app = axum::Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .fallback_service(server.http_service());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(
///     listener,
///     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
/// )
/// .await
/// # }
/// ```
///
/// **The client address** is read from the request's extensions: a [`SocketAddr`], or
/// with the `axum` feature axum's `ConnectInfo<SocketAddr>` (as above). Without either
/// it is the unspecified address `0.0.0.0:0`. Forwarding headers are believed per the
/// handshake configuration's `trusted_proxies`, as always.
///
/// **Upgrades** need a server that hands connections over (hyper's `with_upgrades`,
/// which `axum::serve` uses) and HTTP/1.1. TLS, timeouts and connection limits before
/// the request are the embedding server's; [`AdapterConfig`](super::AdapterConfig)'s
/// `handshake_timeout` bounds the wait for an `/api` body, and its queue sizes, read
/// buffer and close timeout apply to upgraded connections as to any other.
#[derive(Clone)]
pub struct HttpService {
    handle: ServerHandle,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService").finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The server's HTTP side as a tower `Service`, to mount in an application's own
    /// hyper or axum server (see [`HttpService`]). Connections it upgrades belong to
    /// this server like those of its listener, if it has one
    /// ([`ServerBuilder::start`](super::ServerBuilder::start) makes one without).
    pub fn http_service(&self) -> HttpService {
        HttpService {
            handle: self.clone(),
        }
    }
}

/// The error type of a request body the service reads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The boxed future [`HttpService`] answers with.
pub type HttpFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> tower_service::Service<http::Request<B>> for HttpService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = HttpFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let handle = self.handle.clone();
        Box::pin(async move {
            let response = serve(&handle, req).await;
            Ok(response.map(Full::new))
        })
    }
}

/// Carries out the core's decision for one request.
async fn serve<B>(handle: &ServerHandle, req: http::Request<B>) -> http::Response<Bytes>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let inner = &handle.inner;
    if *inner.stopping.borrow() {
        return Unserved::ServerStopped.response().into_http();
    }
    let shared = &inner.conns;
    let (mut parts, body) = req.into_parts();
    let peer = peer(&parts.extensions);
    let on_upgrade = parts.extensions.remove::<OnUpgrade>();
    let head = http::Request::from_parts(parts, ());
    let ctx = RequestContext {
        peer,
        now_ms: crate::epoch_ms(),
        entropy: crate::random_bytes16(),
    };
    let response = match shared.router.route(&head, &ctx) {
        Route::Upgrade {
            handshake, accept, ..
        } => {
            let Some(on_upgrade) = on_upgrade else {
                return Unserved::UpgradeUnavailable.response().into_http();
            };
            // The workers take connections in turn; the connection task holds its
            // worker's `alive`, which the worker waits for at shutdown.
            let worker = handle.next_worker();
            let Some(alive) = inner.alive.get(worker).and_then(|a| a.upgrade()) else {
                return Unserved::ServerStopped.response().into_http();
            };
            let handoff = Handoff {
                on_upgrade,
                handshake,
                peer,
                alive,
            };
            if !handle.command_to(worker, Command::Upgraded(handoff)).await {
                return Unserved::ServerStopped.response().into_http();
            }
            return handshake::switching_protocols(&accept).map(|()| Bytes::new());
        }
        Route::Respond(response) => response,
        Route::File(file) => {
            let serve = move || file.serve(crate::files::stat, crate::files::read);
            tokio::task::spawn_blocking(serve)
                .await
                .unwrap_or_else(|_| Unserved::ServerStopped.response())
        }
        Route::Action(api) => action(handle, api, body).await,
    };
    response.into_http()
}

/// The client address from the request's extensions (see [`HttpService`]).
fn peer(extensions: &http::Extensions) -> SocketAddr {
    if let Some(addr) = extensions.get::<SocketAddr>() {
        return *addr;
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return info.0;
    }
    SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
}

/// Reads an `/api` request's body (the core's length, within the adapter's time) and
/// has the worker run it.
async fn action<B>(handle: &ServerHandle, api: ApiRequest, body: B) -> HttpResponse
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let limit = handle.inner.conns.adapter.handshake_timeout;
    let body = match tokio::time::timeout(limit, Limited::new(body, api.body_len).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return Unserved::BodyFailed.response(),
        Err(_) => return Unserved::BodyTimedOut.response(),
    };
    if body.len() != api.body_len {
        return Unserved::BodyFailed.response();
    }
    let (reply, answer) = oneshot::channel();
    let call = ApiCall {
        request: api,
        body: body.to_vec(),
        reply,
    };
    if !handle
        .command_to(handle.next_worker(), Command::Api(call))
        .await
    {
        return Unserved::ServerStopped.response();
    }
    answer
        .await
        .unwrap_or_else(|_| Unserved::ServerStopped.response())
}

/// An accepted upgrade on its way to the worker thread.
pub(crate) struct Handoff {
    on_upgrade: OnUpgrade,
    handshake: Handshake,
    peer: SocketAddr,
    /// Held by the connection task: the worker waits for it at shutdown.
    alive: mpsc::Sender<()>,
}

/// An accepted upgrade, once hyper has written the `101` and hands the connection over:
/// a WebSocket connection of this server like any other, run on the worker's thread
/// (the socket stays registered with the embedding server's runtime).
pub(crate) async fn upgraded(handoff: Handoff, worker: Rc<Worker>) {
    let Handoff {
        on_upgrade,
        handshake,
        peer,
        alive,
    } = handoff;
    let shared = worker.handle().inner.conns.clone();
    let task = async move {
        let _alive = alive;
        let Ok(upgraded) = on_upgrade.await else {
            trace::debug!("the embedding server did not hand the connection over");
            return;
        };
        // Bytes hyper read past the request head are replayed by `Upgraded`.
        let io = ServerIo::Upgraded(Box::new(TokioIo::new(upgraded)));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(shared.ws_config())).await;
        conn::websocket(ws, handshake, &shared, &worker).await;
    };
    trace::connection(task, peer).await;
}
