//! An axum application with its own routes beside the Actionhero endpoint, on one port:
//!
//! * the application's routes: `GET /hello`, `GET /members/{room}` and
//!   `POST /announce/{room}` (the body is said in the room, from the server), which use
//!   the [`ServerHandle`] like any other code of the application;
//! * everything else goes to the server's [`HttpService`]: the Primus endpoint
//!   (`/primus`, WebSocket upgrades included), `/api/{action}`, the generated client
//!   library (`/public/javascript/ActionheroWebsocketClient.js`) and the public
//!   directory.
//!
//! ```text
//! cargo run -p actionhero-ws-tokio --features axum --example axum_app -- 127.0.0.1:8080 [PUBLIC_DIR]
//! ```
//!
//! Prints `READY <port>` once listening. Actionhero's sample actions are registered, and
//! the rooms `defaultRoom` and `otherRoom` exist, so the real JS client's interop
//! scenarios run against it (`tests/axum_app.rs` does that).
//!
//! [`HttpService`]: actionhero_ws_tokio::server::HttpService

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use actionhero_ws_tokio::{ServerBuilder, ServerHandle};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};

/// The Actionhero side: sample actions, the stock rooms, no listener of its own.
pub(crate) fn actionhero(public_dir: Option<PathBuf>) -> std::io::Result<ServerHandle> {
    let mut builder = ServerBuilder::new().room("defaultRoom").room("otherRoom");
    if let Some(dir) = public_dir {
        builder = builder.public_dir(dir);
    }
    actionhero_ws_tokio::samples::register(builder).start()
}

/// The application: its own routes, and the server's routes for everything else.
pub(crate) fn app(server: ServerHandle) -> axum::Router {
    let actionhero = server.http_service();
    axum::Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .route("/members/{room}", get(members))
        .route("/announce/{room}", post(announce))
        .with_state(server)
        // Or mount only some paths: `.route_service("/primus", actionhero.clone())` and
        // `.route_service("/primus/{*rest}", actionhero.clone())` for the endpoint alone.
        .fallback_service(actionhero)
}

/// How many connections are in a room, as JSON.
async fn members(
    State(server): State<ServerHandle>,
    Path(room): Path<String>,
) -> impl axum::response::IntoResponse {
    let count = server.members(&room).await.map_or(0, |m| m.len());
    let body = serde_json::json!({ "room": room, "members": count }).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// Says the request body in a room, from the server; answers how many it reached.
async fn announce(
    State(server): State<ServerHandle>,
    Path(room): Path<String>,
    text: String,
) -> (StatusCode, String) {
    match server.broadcast(&room, text.into()).await {
        Ok(reached) => (StatusCode::OK, format!("reached {reached}")),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()),
    }
}

/// Serves `app` on `listener` until the server behind it stops, with the client address
/// of every request (Actionhero reports it as `remoteIP`).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    server: ServerHandle,
) -> std::io::Result<()> {
    let app = app(server.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { server.stopped().await })
    .await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let public_dir = args.next().map(PathBuf::from);
    let server = actionhero(public_dir)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    writeln!(std::io::stdout(), "READY {port}")?;
    serve(listener, server).await
}
