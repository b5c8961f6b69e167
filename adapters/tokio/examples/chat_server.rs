//! A chat server with one custom action, on the tokio adapter.
//!
//! ```text
//! cargo run -p actionhero-ws-tokio --example chat_server
//! # then, in another terminal:
//! cargo run -p actionhero-ws-tokio --example cli_client
//! ```
//!
//! Clients join `lobby`, talk with `say`, and the `announce` action makes the server
//! broadcast to the room.

use actionhero_ws::server::{ActionOutcome, ActionSpec, Event, Input};
use actionhero_ws_tokio::server::{ActionContext, ServerBuilder};
use serde_json::{json, Map};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (events_tx, mut events) = mpsc::channel(256);
    let server = ServerBuilder::new()
        .listen("127.0.0.1:8080")
        .room("lobby")
        .events(events_tx)
        // `announce text=…`: the server says `text` in the lobby, from "0".
        .action(
            ActionSpec::new("announce").input("text", Input::required()),
            |ctx: ActionContext| async move {
                let text = ctx.params.get("text").cloned().unwrap_or_default();
                match ctx.server.broadcast("lobby", json!(text)).await {
                    Ok(reached) => {
                        let mut out = Map::new();
                        out.insert("reached".into(), reached.into());
                        ActionOutcome::Ok(out)
                    }
                    Err(e) => ActionOutcome::error(e.to_string()),
                }
            },
        )
        .serve()
        .await?;
    eprintln!(
        "chat server on ws://{}/primus (Ctrl-C stops it)",
        server.local_addr()
    );

    // Log connections as they come and go.
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                Event::Connected { id, .. } => eprintln!("+ {id}"),
                Event::Disconnected { conn, reason } => eprintln!("- {conn} ({reason:?})"),
                _ => {}
            }
        }
    });

    tokio::signal::ctrl_c().await?;
    // Tell clients not to come back, then wait for the last frames to go out.
    server.shutdown(false).await;
    Ok(())
}
