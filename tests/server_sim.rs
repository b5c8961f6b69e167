//! Server behaviour in the simulation harness (virtual time, no sockets).

mod sim;

use std::time::Duration;

use actionhero_ws::server::{
    ActionOutcome, ChatHooks, CloseReason, ConnectionInfo, DisconnectReason, Event, ServerConfig,
};
use actionhero_ws::{Frame, RoomName};
use serde_json::{json, Map, Value};
use sim::{json, Sim};

fn sim() -> Sim {
    let mut s = Sim::new(ServerConfig::default());
    s.rooms(&["defaultRoom", "otherRoom"]);
    s
}

fn welcome(s: &mut Sim, h: actionhero_ws::ConnectionHandle) {
    let w = s.recv(h).expect("welcome");
    assert_eq!(
        w.as_text().unwrap(),
        r#"{"welcome":"Welcome to the actionhero api","context":"api"}"#
    );
}

#[test]
fn welcome_and_details_view() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, r#"{"event":"detailsView","messageId":7}"#);
    let d = json(&s.recv(a).unwrap());
    let data = &d["data"];
    let keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "fingerprint",
            "remoteIP",
            "remotePort",
            "params",
            "connectedAt",
            "rooms",
            "totalActions",
            "pendingActions"
        ]
    );
    assert_eq!(data["id"], data["fingerprint"]);
    assert_eq!(data["remoteIP"], "127.0.0.1");
    assert_eq!(d["messageId"], 7);
}

#[test]
fn fingerprint_from_handshake() {
    let mut s = sim();
    let a = s.open(Some("abc123"));
    welcome(&mut s, a);
    s.send(a, r#"{"event":"detailsView"}"#);
    let d = json(&s.recv(a).unwrap());
    assert_eq!(d["data"]["fingerprint"], "abc123");
    assert_ne!(d["data"]["id"], "abc123");
    // no messageId: a uuid v4 string
    assert_eq!(d["messageId"].as_str().unwrap().len(), 36);
}

#[test]
fn actions_answer_with_their_own_ids_and_limit() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    for i in 1..=6 {
        s.send(a, &format!(r#"{{"event":"action","params":{{"action":"sleepTest","sleepDuration":300}},"messageId":{i}}}"#));
    }
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"error":"you have too many pending requests","context":"response","messageId":6}"#
    );
    assert!(s.recv(a).is_none());
    s.advance(Duration::from_millis(300));
    let ids: Vec<Value> = s
        .texts(a)
        .iter()
        .map(|t| serde_json::from_str::<Value>(t).unwrap()["messageId"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1), json!(2), json!(3), json!(4), json!(5)]);
}

#[test]
fn action_errors_are_bare_messages() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(
        a,
        r#"{"event":"action","params":{"action":"cacheTest"},"messageId":3}"#,
    );
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"error":"key is a required parameter for this action","context":"response","messageId":3}"#
    );
    s.send(a, r#"{"event":"action","messageId":2}"#);
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"error":"unknown action or invalid apiVersion","context":"response","messageId":2}"#
    );
    s.send(a, r#"{"event":"action","params":{"action":"validationTest","string":"hello"},"messageId":"x"}"#);
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"string":"hello","context":"response","messageId":"x"}"#
    );
}

#[test]
fn rooms_and_say_fanout() {
    let mut s = sim();
    let a = s.open(None);
    let b = s.open(None);
    welcome(&mut s, a);
    welcome(&mut s, b);
    s.send(
        a,
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
    );
    s.send(
        b,
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
    );
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"status":"OK","context":"response","data":true,"messageId":1}"#
    );
    s.recv(b).unwrap();
    s.send(
        a,
        r#"{"event":"say","room":"defaultRoom","message":"hello from A","messageId":2}"#,
    );
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"status":"OK","context":"response","messageId":2}"#
    );
    let mine = json(&s.recv(a).unwrap());
    let theirs = json(&s.recv(b).unwrap());
    assert_eq!(mine, theirs);
    assert_eq!(mine["context"], "user");
    assert_eq!(mine["message"], "hello from A");
    s.send(
        a,
        r#"{"event":"roomView","room":"defaultRoom","messageId":3}"#,
    );
    let v = json(&s.recv(a).unwrap());
    assert_eq!(v["data"]["membersCount"], 2);
    s.send(a, r#"{"event":"say","room":"defaultRoom","message":"m","extra":"x","1":"first?","messageId":4}"#);
    s.recv(a).unwrap();
    assert_eq!(json(&s.recv(a).unwrap())["message"], "first? m x");
    s.send(a, r#"{"event":"say","message":"hello","messageId":5}"#);
    assert_eq!(
        s.recv(a).unwrap().as_text().unwrap(),
        r#"{"status":"Error: both room and message are required","error":"Error: both room and message are required","context":"response","data":{"message":"hello"},"messageId":5}"#
    );
    // membership symmetric after close
    s.close(b);
    assert_eq!(s.server.members("defaultRoom").len(), 1);
}

#[test]
fn heartbeat_closes_silent_peers_without_server_close() {
    let mut s = Sim::new(ServerConfig {
        ping_interval: Some(Duration::from_millis(1000)),
        ..ServerConfig::default()
    });
    let a = s.open(None);
    let b = s.open(None);
    welcome(&mut s, a);
    welcome(&mut s, b);
    s.advance(Duration::from_millis(1000));
    let ping = s.recv(a).unwrap();
    let ping_text = ping.as_text().unwrap().to_string();
    assert!(ping_text.starts_with("\"primus::ping::"));
    s.recv(b).unwrap();
    let value = ping_text
        .trim_matches('"')
        .trim_start_matches("primus::ping::");
    s.send(a, &format!("\"primus::pong::{value}\""));
    s.advance(Duration::from_millis(1000));
    assert!(s
        .recv(a)
        .unwrap()
        .as_text()
        .unwrap()
        .starts_with("\"primus::ping::"));
    assert_eq!(
        s.recv(b).unwrap(),
        Frame::Close {
            code: None,
            reason: ""
        }
    );
    assert!(s.events.iter().any(|e| matches!(e, Event::Disconnected { conn, reason: DisconnectReason::HeartbeatTimeout } if *conn == b)));
}

#[test]
fn quit_sends_server_close_and_no_response() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, r#"{"event":"roomAdd","room":"defaultRoom"}"#);
    s.recv(a);
    s.send(a, r#"{"event":"quit","messageId":1}"#);
    assert_eq!(
        s.texts(a),
        vec![
            "\"primus::server::close\"".to_string(),
            "<close None >".into()
        ]
    );
    assert!(s.server.members("defaultRoom").is_empty());
    let last = s.events.last().unwrap();
    assert!(matches!(
        last,
        Event::Disconnected {
            reason: DisconnectReason::Quit,
            ..
        }
    ));
}

#[test]
fn bad_input_gets_answers_not_crashes() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, "null");
    let r = json(&s.recv(a).unwrap());
    assert_eq!(
        r["status"],
        "Error: verb not found or not allowed (undefined)"
    );
    assert_eq!(r["data"], Value::Null);
    s.send(a, "\"primus::id::\"");
    let id = s.recv(a).unwrap();
    assert_eq!(id.as_text().unwrap().len(), "\"primus::id::\"".len() + 21);
    s.send_binary(a, b"{\"a\"");
    let r = json(&s.recv(a).unwrap());
    assert_eq!(r["data"], json!({"type":"Buffer","data":[123,34,97,34]}));
    // invalid JSON: dropped, then a run of them closes with 1008
    for _ in 0..15 {
        s.send(a, "{bad");
    }
    assert!(s.recv(a).is_none());
    s.send(a, "{bad");
    assert_eq!(
        s.recv(a).unwrap(),
        Frame::Close {
            code: Some(1008),
            reason: "too many invalid frames"
        }
    );
}

#[test]
fn file_requests_keep_their_own_message_id() {
    let mut s = sim();
    s.files.insert("simple.html".into(), "<h1>hi</h1>".into());
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, r#"{"event":"file","file":"simple.html","messageId":1}"#);
    let r = json(&s.recv(a).unwrap());
    assert_eq!(r["content"], "<h1>hi</h1>");
    assert_eq!(r["messageId"], 1);
    for (i, bad) in ["../../package.json", "/etc/hosts", "", "a/../../b"]
        .iter()
        .enumerate()
    {
        s.send(
            a,
            &format!(r#"{{"event":"file","file":"{bad}","messageId":{}}}"#, i + 2),
        );
        assert_eq!(
            s.recv(a).unwrap().as_text().unwrap(),
            format!(
                r#"{{"error":"that file is not found","content":null,"mime":"text/html","length":22,"context":"response","messageId":{}}}"#,
                i + 2
            )
        );
    }
}

#[test]
fn documentation_works() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, r#"{"event":"documentation","messageId":1}"#);
    let r = json(&s.recv(a).unwrap());
    assert_eq!(r["status"], "OK");
    assert_eq!(
        r["data"]["sleepTest"]["1"]["inputs"]["sleepDuration"]["required"],
        true
    );
}

struct Hooks;
impl ChatHooks for Hooks {
    fn join(&mut self, _c: ConnectionInfo<'_>, room: &RoomName) -> Result<(), String> {
        if room.as_str() == "otherRoom" {
            return Err("joining rooms blocked".into());
        }
        Ok(())
    }
    fn on_say_receive(
        &mut self,
        _s: Option<ConnectionInfo<'_>>,
        p: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        let mut p = p.unwrap();
        if p["message"] == "silence" {
            return Ok(None);
        }
        p.insert("message".into(), json!("rewritten"));
        Ok(Some(p))
    }
    fn say(
        &mut self,
        r: ConnectionInfo<'_>,
        _room: &RoomName,
        mut p: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        p.insert("to".into(), json!(r.id.as_str()));
        Some(p)
    }
}

#[test]
fn chat_hooks() {
    let mut s = sim();
    s.server.add_chat_hooks(100, Box::new(Hooks));
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(a, r#"{"event":"roomAdd","room":"otherRoom","messageId":1}"#);
    assert_eq!(
        json(&s.recv(a).unwrap())["error"],
        "Error: joining rooms blocked"
    );
    s.send(
        a,
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":2}"#,
    );
    s.recv(a);
    s.send(
        a,
        r#"{"event":"say","room":"defaultRoom","message":"hi","messageId":3}"#,
    );
    s.recv(a);
    let chat = json(&s.recv(a).unwrap());
    assert_eq!(chat["message"], "rewritten");
    assert!(chat["to"].is_string());
    s.send(
        a,
        r#"{"event":"say","room":"defaultRoom","message":"silence","messageId":4}"#,
    );
    s.recv(a);
    assert!(s.recv(a).is_none());
}

/// Records the sender of every say-receive call and tags the message; `refuse` fails it.
struct ServerSayHooks(std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>);
impl ChatHooks for ServerSayHooks {
    fn on_say_receive(
        &mut self,
        sender: Option<ConnectionInfo<'_>>,
        p: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        self.0
            .lock()
            .unwrap()
            .push(sender.map(|c| c.id.to_string()));
        let mut p = p.unwrap();
        match p["message"].as_str() {
            Some("refuse") => Err("refused".into()),
            Some("silence") => Ok(None),
            Some(m) => {
                let m = format!("hooked:{m}");
                p.insert("message".into(), json!(m));
                Ok(Some(p))
            }
            None => Ok(Some(p)),
        }
    }
}

#[test]
fn server_messages_pass_the_say_receive_hooks() {
    // Actionhero's chatRoom.broadcast runs onSayReceive for server messages too (with an
    // empty connection), and chatRoom.destroy sends its notice through broadcast.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut s = sim();
    s.server
        .add_chat_hooks(100, Box::new(ServerSayHooks(seen.clone())));
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(
        a,
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
    );
    s.recv(a);
    let room = RoomName::new("defaultRoom").unwrap();
    let now = s.now;
    assert_eq!(s.server.broadcast(&room, json!("server-msg"), now), Ok(1));
    s.drain();
    let chat = json(&s.recv(a).unwrap());
    assert_eq!(chat["message"], "hooked:server-msg");
    assert_eq!(chat["from"], "0");
    assert_eq!(seen.lock().unwrap().as_slice(), &[None]);
    assert_eq!(
        s.server.broadcast(&room, json!("refuse"), now),
        Err(actionhero_ws::server::RoomError::Rejected("refused".into()))
    );
    assert_eq!(s.server.broadcast(&room, json!("silence"), now), Ok(0));
    s.drain();
    assert!(s.recv(a).is_none());
    // A user's say sees its sender.
    s.send(
        a,
        r#"{"event":"say","room":"defaultRoom","message":"hi","messageId":2}"#,
    );
    s.recv(a);
    assert_eq!(json(&s.recv(a).unwrap())["message"], "hooked:hi");
    let id = seen.lock().unwrap().last().cloned().unwrap();
    assert!(id.is_some());
    s.server.destroy_room(&room, now).unwrap();
    s.drain();
    let notice = json(&s.recv(a).unwrap());
    assert_eq!(notice["message"], "hooked:this room has been deleted");
    assert_eq!(notice["from"], "0");
    assert_eq!(seen.lock().unwrap().last(), Some(&None));
    assert!(!s.server.room_exists("defaultRoom"));
}

/// Fails every server message (the room-deleted notice included).
struct RefuseServerSay;
impl ChatHooks for RefuseServerSay {
    fn on_say_receive(
        &mut self,
        sender: Option<ConnectionInfo<'_>>,
        p: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        match sender {
            Some(_) => Ok(p),
            None => Err("no server messages".into()),
        }
    }
}

#[test]
fn a_refused_room_deleted_notice_keeps_the_room() {
    // Actionhero's chatRoom.destroy awaits the broadcast first: when it throws, nothing
    // is removed.
    let mut s = sim();
    s.server.add_chat_hooks(100, Box::new(RefuseServerSay));
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(
        a,
        r#"{"event":"roomAdd","room":"defaultRoom","messageId":1}"#,
    );
    s.recv(a);
    let room = RoomName::new("defaultRoom").unwrap();
    let now = s.now;
    assert_eq!(
        s.server.destroy_room(&room, now),
        Err(actionhero_ws::server::RoomError::Rejected(
            "no server messages".into()
        ))
    );
    s.drain();
    assert!(s.recv(a).is_none());
    assert!(s.server.room_exists("defaultRoom"));
    assert_eq!(s.server.members("defaultRoom"), vec![a]);
}

#[test]
fn respond_after_disconnect_is_a_benign_race() {
    let mut s = sim();
    s.manual_actions = true;
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(
        a,
        r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#,
    );
    let (_, req, _) = s.requested.pop().unwrap();
    s.close(a);
    let now = s.now;
    let d = s
        .server
        .respond(req, ActionOutcome::Ok(Map::new()), now)
        .unwrap();
    assert_eq!(d, actionhero_ws::server::Delivery::ConnectionGone);
    assert!(s
        .server
        .respond(req, ActionOutcome::Ok(Map::new()), now)
        .is_err());
    // stale handle: ignored
    s.send(a, r#"{"event":"detailsView"}"#);
    s.close(a);
}

#[test]
fn shutdown_with_and_without_reconnect() {
    let mut s = sim();
    let a = s.open(None);
    welcome(&mut s, a);
    let now = s.now;
    s.server.shutdown(false, now);
    s.drain();
    assert_eq!(
        s.texts(a),
        vec![
            "\"primus::server::close\"".to_string(),
            "<close None >".into()
        ]
    );
    assert!(matches!(s.events.last(), Some(Event::ShutdownComplete)));
    assert!(s.server.is_idle());

    let mut s = sim();
    s.manual_actions = true;
    let a = s.open(None);
    welcome(&mut s, a);
    s.send(
        a,
        r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#,
    );
    let now = s.now;
    s.server.shutdown(true, now);
    s.drain();
    s.send(
        a,
        r#"{"event":"action","params":{"action":"randomNumber"},"messageId":2}"#,
    );
    assert_eq!(
        json(&s.recv(a).unwrap())["error"],
        "the server is shutting down"
    );
    let (_, req, _) = s.requested.pop().unwrap();
    let now = s.now;
    s.server
        .respond(req, ActionOutcome::Ok(Map::new()), now)
        .unwrap();
    s.drain();
    assert_eq!(
        s.texts(a),
        vec![
            r#"{"context":"response","messageId":1}"#.to_string(),
            "<close Some(1001) server shutting down>".into()
        ]
    );
}

#[test]
fn slow_consumer_is_closed_and_others_carry_on() {
    let mut s = Sim::new(ServerConfig {
        max_outbound_queue_per_connection: 8,
        ..ServerConfig::default()
    });
    s.rooms(&["r"]);
    let a = s.open(None);
    let now = s.now;
    // Queue frames without draining: the core counts them.
    for _ in 0..20 {
        s.server.alert(a, &json!("x"), now);
    }
    s.drain();
    let texts = s.texts(a);
    assert_eq!(texts.last().unwrap(), "<close Some(1008) slow consumer>");
    let b = s.open(None);
    s.server.close(b, CloseReason::Destroy, now);
    s.drain();
    assert_eq!(s.texts(b).len(), 3);
}
