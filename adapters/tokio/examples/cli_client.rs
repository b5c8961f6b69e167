//! A small client on the tokio adapter: joins `lobby`, says hello, calls `announce`,
//! prints what it hears for a few seconds, and leaves.
//!
//! ```text
//! cargo run -p actionhero-ws-tokio --example chat_server   # in one terminal
//! cargo run -p actionhero-ws-tokio --example cli_client    # in another
//! ```

use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::RoomName;
use actionhero_ws_tokio::client;
use serde_json::{json, Map, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ClientConfig {
        // Joined on connect and rejoined after every reconnect, by the core client.
        rooms: vec![RoomName::new("lobby").map_err(|_| "room name")?],
        ..ClientConfig::default()
    };
    let (client, mut events) = client::connect("http://127.0.0.1:8080", config)?;

    // Print every event on its own task, so requests can be awaited meanwhile.
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                ClientEvent::Say { from, message, .. } => println!("{from}: {message}"),
                ClientEvent::Connected { id, rooms, .. } => {
                    println!("connected as {id} in {rooms:?}")
                }
                other => println!("{other:?}"),
            }
        }
    });

    client.say("lobby", "hello").await?;
    let mut params = Map::new();
    params.insert("text".into(), Value::from("the client is here"));
    let answer = client.action("announce", params).await?;
    println!("announce: {}", json!(answer));

    tokio::time::sleep(Duration::from_secs(3)).await;
    client.disconnect().await;
    printer.await?;
    Ok(())
}
