//! Corners of the tokio adapter that the other suites do not reach, each through real
//! sockets (our client where it fits, a raw WebSocket where the client has no such
//! request): a push from outside an action (`ServerHandle::send`), the `exit` verb, an
//! input's default value, the chat `leave` hook, a file request with another request
//! pipelined behind it, and `ClientHandle::state()` through a connection's life.

#[path = "support/ws.rs"]
mod ws;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent, ClientState, DisconnectReason};
use actionhero_ws::server::{
    ActionOutcome, ActionSpec, ChatHooks, ConnectionInfo, DisconnectReason as ServerDisconnect,
    Event, Input, ServerConfig,
};
use actionhero_ws::{MessageId, RoomName};
use actionhero_ws_tokio::client::{self, ClientEvents, Request, RequestError};
use actionhero_ws_tokio::server::{ServerBuilder, ServerHandle};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use ws::{raw_ws, RawWs};

const WAIT: Duration = Duration::from_secs(5);

fn config() -> ServerConfig {
    ServerConfig {
        ping_interval: Some(Duration::from_millis(500)),
        ..ServerConfig::default()
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        ping_timeout: Some(Duration::from_secs(3)),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// Starts `builder` (plus the sample actions and `defaultRoom`) on 127.0.0.1:0 with the
/// core events on the returned receiver.
async fn start(builder: ServerBuilder) -> (ServerHandle, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(10_000);
    let builder = builder
        .listen("127.0.0.1:0")
        .config(config())
        .room("defaultRoom")
        .events(tx);
    let server = actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve");
    (server, rx)
}

async fn wait_event(events: &mut mpsc::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("server event in time")
}

async fn wait_client(
    events: &mut ClientEvents,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("client events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("client event in time")
}

fn connected(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Connected { .. })
}

/// The next message that is not a Primus ping.
async fn next_message(ws: &mut RawWs) -> Message {
    loop {
        let msg = timeout(WAIT, ws.next())
            .await
            .expect("message in time")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(text) = &msg {
            if text.starts_with("\"primus::ping::") {
                continue;
            }
        }
        return msg;
    }
}

#[tokio::test]
async fn a_push_from_outside_an_action_is_a_message_event() {
    // The action answers at once and pushes later, from a task of its own: Actionhero's
    // `connection.sendMessage` after the action is over.
    let builder = ServerBuilder::new().action(ActionSpec::new("notifyLater"), |ctx| async move {
        let conn = ctx.conn.expect("a WebSocket request");
        let server = ctx.server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut message = Map::new();
            message.insert("notice".into(), json!("done later"));
            server.send(conn, message).await.expect("send");
        });
        ActionOutcome::Ok(Map::new())
    });
    let (server, mut events) = start(builder).await;
    let url = format!("http://{}", server.local_addr());
    let (client, mut client_events) = client::connect(url, client_config()).expect("client");
    let Event::Connected { conn, .. } =
        wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await
    else {
        unreachable!()
    };
    wait_client(&mut client_events, connected).await;

    let id = client
        .submit(Request::Action {
            name: "notifyLater".into(),
            params: Map::new(),
        })
        .await
        .expect("submitted");
    let answered = wait_client(&mut client_events, |e| {
        matches!(e, ClientEvent::Response { .. })
    })
    .await;
    assert!(matches!(&answered, ClientEvent::Response { id: got, .. } if *got == id));
    // The push is stamped with the connection's latest messageId (the action's, already
    // answered), so it answers nothing: a message, not a protocol violation.
    let pushed = wait_client(&mut client_events, |e| {
        !matches!(e, ClientEvent::Say { .. })
    })
    .await;
    assert_eq!(
        pushed,
        ClientEvent::Message(
            json!({"notice": "done later", "context": "response", "messageId": id.to_json()})
        )
    );

    // From application code with a context of its own: kept as is.
    let mut message = Map::new();
    message.insert("context".into(), json!("custom"));
    message.insert("n".into(), json!(1));
    server.send(conn, message).await.expect("send");
    let pushed = wait_client(&mut client_events, |_| true).await;
    assert_eq!(
        pushed,
        ClientEvent::Message(json!({"context": "custom", "n": 1}))
    );
    client.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test]
async fn the_exit_verb_closes_like_quit() {
    let (server, mut events) = start(ServerBuilder::new()).await;
    let mut ws = raw_ws(server.local_addr()).await;
    let Message::Text(welcome) = next_message(&mut ws).await else {
        panic!("welcome first")
    };
    assert!(welcome.contains("\"welcome\""), "{welcome}");
    ws.send(Message::text(r#"{"event":"exit","messageId":1}"#))
        .await
        .expect("send exit");
    // No answer to the verb: Primus's server-close notice, then a close frame without a
    // status code (the client does not reconnect).
    let notice = next_message(&mut ws).await;
    assert_eq!(notice, Message::text("\"primus::server::close\""));
    let close = next_message(&mut ws).await;
    assert_eq!(close, Message::Close(None));
    let e = wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert!(
        matches!(
            e,
            Event::Disconnected {
                reason: ServerDisconnect::Quit,
                ..
            }
        ),
        "{e:?}"
    );
    server.shutdown(false).await;
}

#[tokio::test]
async fn an_inputs_default_fills_a_missing_param() {
    let spec = ActionSpec::new("greet")
        .input("name", Input::optional().default_value(json!("world")))
        .input("punctuation", Input::required().default_value(json!("!")));
    let builder = ServerBuilder::new().action(spec, |ctx| async move {
        let name = ctx.params["name"].as_str().unwrap_or("?").to_owned();
        let punctuation = ctx.params["punctuation"].as_str().unwrap_or("?").to_owned();
        let mut out = Map::new();
        out.insert(
            "greeting".into(),
            json!(format!("hello {name}{punctuation}")),
        );
        ActionOutcome::Ok(out)
    });
    let (server, _events) = start(builder).await;
    let url = format!("http://{}", server.local_addr());
    let (client, _client_events) = client::connect(url, client_config()).expect("client");
    let greet = |params: Value| {
        let Value::Object(params) = params else {
            unreachable!()
        };
        client.action("greet", params)
    };
    // Both defaulted (a required input with a default is never missing).
    assert_eq!(
        greet(json!({})).await.expect("greet")["greeting"],
        "hello world!"
    );
    // A given param wins over its default.
    assert_eq!(
        greet(json!({"name": "ahws", "punctuation": "?"}))
            .await
            .expect("greet")["greeting"],
        "hello ahws?"
    );
    // The documentation verb shows the default.
    let docs = client
        .request(Request::Documentation)
        .await
        .expect("documentation");
    assert_eq!(
        docs["data"]["greet"]["1"]["inputs"]["name"]["default"], "world",
        "{docs}"
    );
    client.disconnect().await;
    server.shutdown(false).await;
}

/// Records every `leave` and refuses leaving `lockedRoom`.
struct LeaveHook {
    seen: Arc<Mutex<Vec<String>>>,
}

impl ChatHooks for LeaveHook {
    fn leave(&mut self, _conn: ConnectionInfo<'_>, room: &RoomName) -> Result<(), String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(room.as_str().to_owned());
        if room.as_str() == "lockedRoom" {
            return Err("you may not leave lockedRoom".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_leave_hook_runs_and_can_refuse_a_room_leave() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = ServerBuilder::new()
        .room("lockedRoom")
        .chat_hooks(1, LeaveHook { seen: seen.clone() });
    let (server, mut events) = start(builder).await;
    let url = format!("http://{}", server.local_addr());
    let (client, mut client_events) = client::connect(url, client_config()).expect("client");
    wait_client(&mut client_events, connected).await;
    client
        .room_add("defaultRoom")
        .await
        .expect("join defaultRoom");
    client
        .room_add("lockedRoom")
        .await
        .expect("join lockedRoom");
    let seen_now = || seen.lock().unwrap_or_else(PoisonError::into_inner).clone();

    assert_eq!(
        client.room_leave("defaultRoom").await.expect("leave")["status"],
        "OK"
    );
    assert_eq!(seen_now(), ["defaultRoom"]);
    let refused = client.room_leave("lockedRoom").await.expect_err("refused");
    assert!(
        matches!(&refused, RequestError::Response { error, .. } if error == "Error: you may not leave lockedRoom"),
        "{refused:?}"
    );
    assert_eq!(seen_now(), ["defaultRoom", "lockedRoom"]);
    assert_eq!(
        server.members("lockedRoom").await.expect("members").len(),
        1
    );

    // A closing connection leaves anyway: the hook runs, its refusal is ignored.
    client.disconnect().await;
    wait_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert_eq!(seen_now(), ["defaultRoom", "lockedRoom", "lockedRoom"]);
    assert!(server
        .members("lockedRoom")
        .await
        .expect("members")
        .is_empty());
    server.shutdown(false).await;
}

#[tokio::test]
async fn a_file_request_with_another_request_behind_it_keeps_its_own_id() {
    let dir = std::env::temp_dir().join(format!("ahws-corners-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // Large enough that reading it (on a blocking task) takes a while: the requests
    // behind it are answered meanwhile.
    let big = "0123456789abcdef".repeat(64 * 1024);
    std::fs::write(dir.join("big.txt"), &big).expect("write");
    std::fs::write(dir.join("small.html"), "<p>small</p>").expect("write");
    let (server, _events) = start(ServerBuilder::new().public_dir(&dir)).await;
    let url = format!("http://{}", server.local_addr());
    let (client, mut client_events) = client::connect(url, client_config()).expect("client");
    wait_client(&mut client_events, connected).await;

    let big_id = client
        .submit(Request::File("big.txt".into()))
        .await
        .expect("file");
    let action_id = client
        .submit(Request::Action {
            name: "randomNumber".into(),
            params: Map::new(),
        })
        .await
        .expect("action");
    let small_id = client
        .submit(Request::File("small.html".into()))
        .await
        .expect("file");
    let details_id = client.submit(Request::DetailsView).await.expect("details");
    let mut answers: Vec<(MessageId, Value)> = Vec::new();
    while answers.len() < 4 {
        if let ClientEvent::Response { id, body } = wait_client(&mut client_events, |e| {
            matches!(
                e,
                ClientEvent::Response { .. } | ClientEvent::RequestFailed { .. }
            )
        })
        .await
        {
            answers.push((id, body));
        } else {
            panic!("a request failed: {answers:?}");
        }
    }
    let answer = |id: &MessageId| -> &Value {
        &answers
            .iter()
            .find(|(got, _)| got == id)
            .unwrap_or_else(|| panic!("no answer to {id:?}"))
            .1
    };
    let file = answer(&big_id);
    assert_eq!(file["content"].as_str().map(str::len), Some(big.len()));
    assert_eq!(file["length"], big.len());
    assert_eq!(file["mime"], "text/plain");
    assert!(answer(&action_id)["randomNumber"].is_f64());
    assert_eq!(answer(&small_id)["content"], "<p>small</p>");
    assert_eq!(answer(&small_id)["mime"], "text/html");
    assert_eq!(answer(&details_id)["status"], "OK");
    // Nothing answered twice, nothing left over.
    assert_eq!(client.pending_requests().await.expect("pending"), 0);
    client.disconnect().await;
    server.shutdown(false).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn client_state_follows_the_connection() {
    let (server, _events) = start(ServerBuilder::new()).await;
    let port = server.local_addr().port();
    let mut config = client_config();
    // A long first backoff, so the state can be read while it lasts.
    config.reconnect.min = Duration::from_secs(30);
    let (client, mut client_events) =
        client::connect(format!("http://127.0.0.1:{port}"), config).expect("client");
    let ClientEvent::Connected {
        id, fingerprint, ..
    } = wait_client(&mut client_events, connected).await
    else {
        unreachable!()
    };
    assert_eq!(
        client.state().await.expect("state"),
        ClientState::Connected { id, fingerprint }
    );

    // The server goes away without `primus::server::close`: the client waits to retry.
    server.shutdown(true).await;
    wait_client(&mut client_events, |e| {
        matches!(e, ClientEvent::Reconnecting { attempt: 1, .. })
    })
    .await;
    let state = client.state().await.expect("state");
    assert!(
        matches!(state, ClientState::Backoff { retry: 1, .. }),
        "{state:?}"
    );

    client.disconnect().await;
    wait_client(&mut client_events, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        client.state().await.expect("state"),
        ClientState::Closed {
            reason: DisconnectReason::Local
        }
    );
}
