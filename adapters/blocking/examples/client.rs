//! A blocking client: runs the `echo` action, joins `defaultRoom`, says something there,
//! and prints the events that arrive (its own chat message comes back as a `Say`).
//!
//! ```text
//! cargo run -p actionhero-ws-blocking --example echo_server    # in one terminal
//! cargo run -p actionhero-ws-blocking --example client -- [URL] # in another
//! ```
//!
//! `URL` defaults to `http://127.0.0.1:8080` (`ws://` works too; TLS URLs do not: that
//! is the tokio adapter's job). Every call below blocks until the server answers.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use actionhero_ws_blocking::client::{Client, Config};
use serde_json::{json, Map};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    // Returns once the connection is open and configured (welcome, detailsView).
    let client = Client::connect(&url, Config::default())?;

    let mut params = Map::new();
    params.insert("message".into(), json!("hello"));
    println!("echo     -> {}", client.action("echo", params)?);
    println!("roomAdd  -> {}", client.room_add("defaultRoom")?);
    println!("say      -> {}", client.say("defaultRoom", "hi everyone")?);

    // Events: the welcome, Connected, and our own chat message back from the room.
    for event in client.events(Duration::from_millis(500)) {
        println!("event    :  {event:?}");
    }
    client.disconnect();
    Ok(())
}
