//! Several workers (`ServerBuilder::workers`): one server to its clients whichever worker
//! holds each connection (rooms shared through the in-process bus and store), commands
//! routed to the worker that owns a connection, metrics and shutdown over all workers.

use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::server::{ActionOutcome, ActionSpec, ServerConfig};
use actionhero_ws_tokio::client::{self, ClientEvents, ClientHandle};
use actionhero_ws_tokio::{ActionContext, ServerBuilder};
use serde_json::{json, Map};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const CLIENTS: usize = 8;

async fn next_say(events: &mut ClientEvents) -> serde_json::Value {
    loop {
        match timeout(WAIT, events.recv()).await.expect("a say in time") {
            Some(ClientEvent::Say { body, .. }) => return body,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

async fn next_message(events: &mut ClientEvents) -> serde_json::Value {
    loop {
        match timeout(WAIT, events.recv())
            .await
            .expect("a message in time")
        {
            Some(ClientEvent::Message(m)) => return m,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_are_one_server() {
    let server = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .workers(2)
        .config(ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        })
        .room("defaultRoom")
        .action(ActionSpec::new("whoami"), |ctx: ActionContext| async move {
            let mut out = Map::new();
            let conn = ctx.conn.expect("a WebSocket action");
            out.insert("tag".into(), u64::from(conn.tag()).into());
            ActionOutcome::Ok(out)
        })
        .serve()
        .await
        .expect("serve");
    let url = format!("http://{}", server.local_addr());
    let mut clients: Vec<(ClientHandle, ClientEvents)> = Vec::new();
    for _ in 0..CLIENTS {
        let (c, events) = client::connect(url.clone(), ClientConfig::default()).expect("client");
        c.room_add("defaultRoom").await.expect("joins");
        clients.push((c, events));
    }

    // Every client counts every member, whichever worker holds it.
    for (c, _) in &clients {
        let view = c.room_view("defaultRoom").await.expect("roomView");
        assert_eq!(view["data"]["membersCount"], CLIENTS, "{view}");
    }
    // A say reaches everybody once.
    clients[0]
        .0
        .say("defaultRoom", "to all")
        .await
        .expect("say");
    for (_, events) in &mut clients {
        assert_eq!(next_say(events).await["message"], "to all");
    }
    // So does a broadcast from the application.
    server
        .broadcast("defaultRoom", json!("from the server"))
        .await
        .expect("broadcast");
    for (_, events) in &mut clients {
        assert_eq!(next_say(events).await["message"], "from the server");
    }

    // Commands for a connection reach the worker that owns it.
    let members = server.members("defaultRoom").await.expect("members");
    assert_eq!(members.len(), CLIENTS);
    let mut tags: Vec<u8> = members.iter().map(|m| m.tag()).collect();
    tags.sort_unstable();
    tags.dedup();
    assert!(tags.iter().all(|t| *t < 2), "{tags:?}");
    for (i, m) in members.iter().enumerate() {
        let mut message = Map::new();
        message.insert("n".into(), i.into());
        server.send(*m, message).await.expect("send");
    }
    let mut got = Vec::new();
    for (_, events) in &mut clients {
        let m = next_message(events).await;
        got.push(m["n"].as_u64().unwrap_or_else(|| panic!("{m}")));
    }
    got.sort_unstable();
    assert_eq!(got, (0..CLIENTS as u64).collect::<Vec<_>>());

    // An action knows its worker; metrics count every worker's connections.
    let who = clients[0]
        .0
        .action("whoami", Map::new())
        .await
        .expect("whoami");
    assert!(who["tag"].as_u64().is_some_and(|t| t < 2), "{who}");
    let metrics = server.metrics().await.expect("metrics");
    assert_eq!(metrics.server.connections_open, CLIENTS as u64);

    // Closing one through the handle, then shutting every worker down.
    server.close(members[0]).await.expect("close");
    server.shutdown(false).await;
    assert!(server.is_stopped());
}
