//! A mixed cluster: a real Actionhero 29.3.5 node (interop/actionhero-server/boot.js,
//! driven through its CONTROL=1 line protocol, see control.js) and two of our nodes
//! ([`ServerBuilder::cluster`]) on one `redis-server` started here on a free loopback
//! port. Clients on every node share `defaultRoom`: says cross both ways with identical
//! frames (byte for byte, from raw WebSocket clients), `roomView` agrees, rooms created
//! or destroyed on one node are seen on the other, and `removeMember` works as an RPC
//! both ways.
//!
//! Needs `node` and `redis-server`; installs interop/node_modules through
//! interop/ensure.sh when missing; fails (does not skip) without them.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

mod support;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::server::{Event, RoomCommand, ServerConfig};
use actionhero_ws_tokio::client::{self, ClientEvents, ClientHandle};
use actionhero_ws_tokio::redis::ClusterConfig;
use actionhero_ws_tokio::{ServerBuilder, ServerHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "mixed-token";
const AH_ID: &str = "ah-node";
const OUR_ID: &str = "ahws-one";
const OUR_OTHER_ID: &str = "ahws-two";

/// The real Actionhero node and its control line protocol.
struct Actionhero {
    port: u16,
    child: Child,
    /// What the node logged (level `emerg`: only what stops it), shown as it comes.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    answers: HashMap<u64, Value>,
    next_id: u64,
}

impl Actionhero {
    async fn boot(redis: &support::PrivateRedis) -> Self {
        let mut child = Command::new("node")
            .arg(support::repo_root().join("interop/actionhero-server/boot.js"))
            .env("PORT", "0")
            .env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", redis.port.to_string())
            .env("SERVER_TOKEN", TOKEN)
            .env("ACTIONHERO_TITLE", AH_ID)
            .env("CONTROL", "1")
            .env("LOG_LEVEL", "emerg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start interop/actionhero-server/boot.js");
        let stdin = child.stdin.take().unwrap();
        let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let keep = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                eprintln!("actionhero: {line}");
                keep.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = timeout(Duration::from_secs(15), lines.next_line())
                .await
                .expect("Actionhero boots in time")
                .expect("read boot.js's stdout")
                .expect("boot.js ended before READY");
            if let Some(port) = line.strip_prefix("READY ") {
                break port.trim().parse().expect("READY <port>");
            }
        };
        Self {
            port,
            child,
            log,
            stdin,
            lines,
            answers: HashMap::new(),
            next_id: 1,
        }
    }

    /// Runs one control call on the node: `Ok(value)`, or `Err(message)` when it threw.
    async fn call(&mut self, call: &str, args: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "call": call, "args": args}).to_string();
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to boot.js");
        self.stdin.flush().await.expect("flush");
        loop {
            if let Some(answer) = self.answers.remove(&id) {
                return if answer["ok"] == true {
                    Ok(answer["value"].clone())
                } else {
                    Err(answer["error"].as_str().unwrap_or("?").to_owned())
                };
            }
            let line = timeout(WAIT, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no answer to {call} in time"))
                .expect("read boot.js's stdout")
                .expect("boot.js ended");
            if let Some(json) = line.strip_prefix("RESULT ") {
                let answer: Value = serde_json::from_str(json).expect("a JSON answer");
                let n = answer["id"].as_u64().expect("an id");
                self.answers.insert(n, answer);
            }
        }
    }

    /// Panics when the node stopped or logged an uncaught error (Actionhero stops on
    /// an unhandled rejection, e.g. an RPC whose method threw).
    fn assert_alive(&mut self, after: &str) {
        let log = self.log.lock().unwrap().clone();
        assert!(
            !log.iter().any(|l| l.contains("Uncaught")),
            "the Actionhero node failed after {after}: {log:?}"
        );
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "the Actionhero node exited after {after}: {status:?}"
        );
    }

    /// A raw WebSocket client of the node's script on `url`: (socket, connection id).
    async fn open(&mut self, url: &str) -> (u64, String) {
        let v = self.call("ws.open", json!([url])).await.expect("ws.open");
        let id = v["connectionId"].as_str().unwrap().to_owned();
        (v["conn"].as_u64().unwrap(), id)
    }

    async fn request(&mut self, socket: u64, msg: Value) -> Value {
        self.call("ws.request", json!([socket, msg]))
            .await
            .expect("ws.request")
    }

    /// The next pushed frame of a raw client, verbatim.
    async fn frame(&mut self, socket: u64) -> String {
        let v = self
            .call("ws.frames", json!([socket, 1]))
            .await
            .expect("a pushed frame");
        v[0].as_str().unwrap().to_owned()
    }
}

async fn our_node(
    redis: &support::PrivateRedis,
    id: &str,
    events: mpsc::Sender<Event>,
) -> ServerHandle {
    let mut cluster = ClusterConfig::new(format!("redis://127.0.0.1:{}", redis.port));
    cluster.rooms.server_id = id.into();
    cluster.channel.server_token = TOKEN.into();
    actionhero_ws_tokio::samples::register(ServerBuilder::new())
        .listen("127.0.0.1:0")
        .config(ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        })
        .room("defaultRoom")
        .cluster(cluster)
        .events(events)
        .serve()
        .await
        .expect("serve")
}

/// Keeps the node's event channel drained and passes on the room commands' outcomes.
fn room_commands(
    mut events: mpsc::Receiver<Event>,
) -> mpsc::UnboundedReceiver<(RoomCommand, String, Result<(), String>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let Event::RoomCommandDone {
                command,
                room,
                result,
            } = e
            {
                let result = result.map_err(|e| format!("{e:?}"));
                let _ = tx.send((command, room.to_string(), result));
            }
        }
    });
    rx
}

/// The outcome of `command` on `room` (earlier outcomes of other commands, such as the
/// creation of the starting rooms at boot, are skipped).
async fn done(
    rx: &mut mpsc::UnboundedReceiver<(RoomCommand, String, Result<(), String>)>,
    command: RoomCommand,
    room: &str,
) -> Result<(), String> {
    loop {
        let (c, r, result) = timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("the outcome of {command:?} on {room} in time"))
            .expect("the node is running");
        if c == command && r == room {
            return result;
        }
    }
}

async fn say_body(events: &mut ClientEvents) -> Value {
    loop {
        match timeout(WAIT, events.recv()).await.expect("a say in time") {
            Some(ClientEvent::Say { body, .. }) => return body,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

async fn connect(url: String) -> (ClientHandle, ClientEvents, String) {
    let (c, events) = client::connect(url, ClientConfig::default()).unwrap();
    let details = timeout(WAIT, c.details_view())
        .await
        .expect("in time")
        .expect("detailsView");
    let id = details["data"]["id"].as_str().unwrap().to_owned();
    (c, events, id)
}

fn rooms_of(details: &Value) -> Value {
    details["data"]["rooms"].clone()
}

/// True once the client's `detailsView` lists `rooms` (polled: a removal by another
/// node is not announced to the client), false after [`WAIT`].
async fn rooms_become(c: &ClientHandle, rooms: Value) -> bool {
    let poll = async {
        loop {
            let d = c.details_view().await.expect("detailsView");
            if rooms_of(&d) == rooms {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(WAIT, poll).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actionhero_node_and_ours_share_rooms() {
    assert!(
        support::node_available(),
        "`node` is required by tests/mixed_cluster.rs (Node 20)"
    );
    support::ensure_interop();
    let redis = support::PrivateRedis::start();
    // Actionhero first: boot.js empties the Redis database.
    let mut ah = Actionhero::boot(&redis).await;
    assert_eq!(ah.call("serverId", json!([])).await, Ok(json!(AH_ID)));
    let (events_tx, events_rx) = mpsc::channel(64);
    let ours = our_node(&redis, OUR_ID, events_tx).await;
    let mut commands = room_commands(events_rx);
    // A second node of ours, with one client: says and roomView span three nodes.
    let (events_tx, events_rx) = mpsc::channel(64);
    let ours2 = our_node(&redis, OUR_OTHER_ID, events_tx).await;
    let _ = room_commands(events_rx);
    let ah_http = format!("http://127.0.0.1:{}", ah.port);
    let our_http = format!("http://{}", ours.local_addr());

    // Rust clients on both nodes, and a raw WebSocket client of node's on both (for
    // the frames as bytes).
    let (x, mut x_events, x_id) = connect(ah_http.clone()).await;
    let (y, mut y_events, y_id) = connect(our_http.clone()).await;
    let (z, mut z_events, z_id) = connect(format!("http://{}", ours2.local_addr())).await;
    let (raw_ah, raw_ah_id) = ah.open(&format!("ws://127.0.0.1:{}/primus", ah.port)).await;
    let (raw_ours, raw_ours_id) = ah.open(&format!("ws://{}/primus", ours.local_addr())).await;
    x.room_add("defaultRoom")
        .await
        .expect("x joins on Actionhero");
    y.room_add("defaultRoom").await.expect("y joins on ours");
    z.room_add("defaultRoom")
        .await
        .expect("z joins on our second node");
    for raw in [raw_ah, raw_ours] {
        let joined = ah
            .request(raw, json!({"event": "roomAdd", "room": "defaultRoom"}))
            .await;
        assert_eq!(joined["status"], "OK", "raw roomAdd: {joined}");
    }

    // 1. Says cross both ways; every member gets the same frame, byte for byte.
    let mut from_each = Vec::new();
    for (sayer, who, name) in [(&x, &x_id, "Actionhero"), (&y, &y_id, "ours")] {
        let text = format!("hello from a client on {name} \u{2028} \u{e9}");
        sayer.say("defaultRoom", text.as_str()).await.expect("say");
        let on_x = say_body(&mut x_events).await;
        let on_y = say_body(&mut y_events).await;
        let on_z = say_body(&mut z_events).await;
        let raw_on_ah = ah.frame(raw_ah).await;
        let raw_on_ours = ah.frame(raw_ours).await;
        assert_eq!(
            raw_on_ours, raw_on_ah,
            "a say from {name}: the frame on our node differs from Actionhero's"
        );
        let parsed: Value = serde_json::from_str(&raw_on_ah).unwrap();
        assert_eq!(
            parsed.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["message", "room", "from", "context", "sentAt"],
            "Actionhero's say frame shape: {raw_on_ah}"
        );
        assert_eq!(parsed["message"], text.as_str(), "{raw_on_ah}");
        assert_eq!(parsed["from"], who.as_str(), "{raw_on_ah}");
        assert_eq!(
            on_x, parsed,
            "a say from {name} as the Rust client on Actionhero got it"
        );
        assert_eq!(
            on_z, parsed,
            "a say from {name} as the Rust client on our second node got it"
        );
        assert_eq!(
            on_y, parsed,
            "a say from {name} as the Rust client on ours got it"
        );
        from_each.push(raw_on_ah);
    }
    assert_ne!(from_each[0], from_each[1]);

    // 2. roomView agrees on both nodes: the same four members.
    let on_ah = x
        .room_view("defaultRoom")
        .await
        .expect("roomView on Actionhero");
    let on_ours = y.room_view("defaultRoom").await.expect("roomView on ours");
    let on_ours2 = z.room_view("defaultRoom").await.expect("roomView on ours2");
    assert_eq!(on_ah["data"]["membersCount"], 5, "on Actionhero: {on_ah}");
    assert_eq!(
        on_ah["data"], on_ours["data"],
        "roomView on Actionhero and on ours"
    );
    assert_eq!(
        on_ours2["data"], on_ours["data"],
        "roomView on both our nodes"
    );
    let mut ids: Vec<_> = on_ours["data"]["members"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    ids.sort();
    let mut want = vec![
        x_id.clone(),
        y_id.clone(),
        z_id.clone(),
        raw_ah_id.clone(),
        raw_ours_id.clone(),
    ];
    want.sort();
    assert_eq!(ids, want, "roomView's member ids");

    // 3. Rooms made on one node are joined from the other; destroyed, gone on both.
    ours.create_room("fromOurs").await.expect("create on ours");
    let result = done(&mut commands, RoomCommand::Create, "fromOurs").await;
    assert_eq!(result, Ok(()), "our create");
    assert_eq!(
        ah.call("chatRoom.exists", json!(["fromOurs"])).await,
        Ok(json!(true)),
        "Actionhero sees the room we made"
    );
    x.room_add("fromOurs")
        .await
        .expect("a client on Actionhero joins the room made on ours");
    let mut params = serde_json::Map::new();
    params.insert("name".into(), json!("fromAh"));
    x.action("createChatRoom", params)
        .await
        .expect("createChatRoom on Actionhero");
    y.room_add("fromAh")
        .await
        .expect("a client on ours joins the room made on Actionhero");

    ours.destroy_room("fromOurs")
        .await
        .expect("destroy on ours");
    let notice = say_body(&mut x_events).await;
    assert_eq!(notice["message"], "this room has been deleted", "{notice}");
    assert_eq!(notice["room"], "fromOurs", "{notice}");
    assert_eq!(notice["from"], "0", "{notice}");
    let result = done(&mut commands, RoomCommand::Destroy, "fromOurs").await;
    assert_eq!(result, Ok(()), "our destroy");
    // (Reported once decided: the deletion reaches Redis right after.)
    let mut gone = false;
    for _ in 0..500 {
        if ah.call("chatRoom.exists", json!(["fromOurs"])).await == Ok(json!(false)) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the room we destroyed is gone for Actionhero");
    // (Actionhero itself deletes the room before the member's node removed it, and that
    // node's removeMember then throws `room does not exist`; ours waits for the answer.)
    assert!(
        rooms_become(&x, json!(["defaultRoom"])).await,
        "the client on Actionhero left the room destroyed on ours"
    );
    ah.assert_alive("a room it had a member in was destroyed on ours");

    assert_eq!(
        ah.call("chatRoom.destroy", json!(["fromAh"])).await,
        Ok(Value::Null),
        "destroy on Actionhero"
    );
    let notice = say_body(&mut y_events).await;
    assert_eq!(notice["message"], "this room has been deleted", "{notice}");
    assert_eq!(notice["room"], "fromAh", "{notice}");
    assert!(
        rooms_become(&y, json!(["defaultRoom"])).await,
        "the client on ours left the room destroyed on Actionhero"
    );
    let gone = y.room_add("fromAh").await;
    assert!(
        gone.is_err(),
        "the room destroyed on Actionhero is gone for ours: {gone:?}"
    );

    // 4. removeMember RPC, from Actionhero for our connection...
    assert_eq!(
        ah.call("chatRoom.removeMember", json!([y_id, "defaultRoom"]))
            .await,
        Ok(json!(true)),
        "Actionhero's removeMember of a connection on ours is answered true"
    );
    assert_eq!(
        rooms_of(&y.details_view().await.unwrap()),
        json!([]),
        "our client left defaultRoom"
    );
    // ...and from ours for a connection on Actionhero.
    ours.remove_member_by_id(&x_id, "defaultRoom")
        .await
        .expect("remove_member_by_id");
    let command = RoomCommand::RemoveMember(x_id.clone());
    let result = done(&mut commands, command, "defaultRoom").await;
    assert_eq!(result, Ok(()), "Actionhero answered our removeMember");
    assert_eq!(
        rooms_of(&x.details_view().await.unwrap()),
        json!([]),
        "the client on Actionhero left defaultRoom"
    );
    let view = ah
        .request(raw_ah, json!({"event": "roomView", "room": "defaultRoom"}))
        .await;
    assert_eq!(view["data"]["membersCount"], 3, "{view}");
    ah.assert_alive("the whole test");

    x.disconnect().await;
    y.disconnect().await;
    z.disconnect().await;
    ours.shutdown(false).await;
    ours2.shutdown(false).await;
}
