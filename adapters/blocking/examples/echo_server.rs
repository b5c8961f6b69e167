//! A blocking chat server: rooms `defaultRoom` and `lobby`, and an `echo` action that
//! answers with the `message` param it was given. No async runtime: plain threads.
//!
//! ```text
//! cargo run -p actionhero-ws-blocking --example echo_server -- [ADDR]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:8080`. Every server event (connections, room joins,
//! disconnects) is printed. Try it with the blocking client example:
//! `cargo run -p actionhero-ws-blocking --example client -- http://127.0.0.1:8080`.
#![allow(clippy::print_stdout)]

use actionhero_ws::server::{ActionOutcome, ActionSpec, Input};
use actionhero_ws_blocking::server::{Config, ServerBuilder};
use serde_json::Map;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());

    // An action is a plain function; it runs on a worker thread, so it may block.
    let echo = ActionSpec::new("echo")
        .description("I answer with the message I was given")
        .input("message", Input::required());
    let mut builder = ServerBuilder::new(Config::default())
        .action(echo, |ctx| {
            let mut out = Map::new();
            out.insert("echo".into(), ctx.params["message"].clone());
            ActionOutcome::Ok(out)
        })
        .room("defaultRoom")
        .room("lobby");
    // Connection, room and disconnect events; the driver waits if we stop reading.
    let events = builder.events(256);
    let server = builder.bind(addr.as_str())?;
    println!("listening on ws://{}/primus", server.local_addr());

    for event in events {
        println!("{event:?}");
    }
    Ok(())
}
