//! A blocking client and a tokio client (`actionhero-ws-tokio`) in one room of the
//! blocking server: each one's `say` reaches the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws_blocking::client::{self, Client};
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{self, ServerBuilder};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn say_between_a_blocking_client_and_a_tokio_client() {
    let config = server::Config {
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        shutdown_drain: Duration::from_millis(200),
        ..server::Config::default()
    };
    let server = samples::register(ServerBuilder::new(config))
        .room("defaultRoom")
        .room("otherRoom")
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    let blocking = Client::connect(
        &url,
        client::Config {
            read_timeout: Duration::from_millis(2),
            ..client::Config::default()
        },
    )
    .unwrap();
    let blocking_id = blocking.details_view().unwrap()["data"]["id"].clone();

    // A current-thread runtime: the tokio client makes progress inside `block_on`; the
    // blocking client's calls below block that thread only briefly (they are answered
    // by the server and the blocking client's own threads).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tokio_client, mut tokio_events) =
            actionhero_ws_tokio::client::connect(url.clone(), ClientConfig::new(url.clone()))
                .unwrap();
        let tokio_id = loop {
            if let ClientEvent::Connected { id, .. } = next(&mut tokio_events).await {
                break json!(id.as_str());
            }
        };

        assert_eq!(blocking.room_add("defaultRoom").unwrap()["status"], "OK");
        let joined = tokio_client.room_add("defaultRoom").await.unwrap();
        assert_eq!(joined["status"], "OK");

        blocking.say("defaultRoom", "from blocking").unwrap();
        assert_eq!(
            tokio_say(&mut tokio_events).await,
            (blocking_id.clone(), json!("from blocking"))
        );
        assert_eq!(
            blocking_say(&blocking),
            (blocking_id.clone(), json!("from blocking"))
        );

        tokio_client.say("defaultRoom", "from tokio").await.unwrap();
        assert_eq!(
            blocking_say(&blocking),
            (tokio_id.clone(), json!("from tokio"))
        );
        assert_eq!(
            tokio_say(&mut tokio_events).await,
            (tokio_id, json!("from tokio"))
        );
        tokio_client.disconnect().await;
    });
    blocking.disconnect();
    server.shutdown(false);
    assert!(server.join_timeout(WAIT));
}

async fn next(events: &mut actionhero_ws_tokio::client::ClientEvents) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("tokio client event in time")
        .expect("tokio client running")
}

/// The tokio client's next chat message: (from, message).
async fn tokio_say(events: &mut actionhero_ws_tokio::client::ClientEvents) -> (Value, Value) {
    loop {
        if let ClientEvent::Say { from, message, .. } = next(events).await {
            return (json!(from.as_str()), message);
        }
    }
}

/// The blocking client's next chat message: (from, message).
fn blocking_say(c: &Client) -> (Value, Value) {
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if let ClientEvent::Say { from, message, .. } = c.recv_timeout(left).unwrap() {
            return (json!(from.as_str()), message);
        }
    }
}
