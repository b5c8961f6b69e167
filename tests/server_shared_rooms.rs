//! Shared rooms (docs/architecture.md#shared-rooms): several `Server` cores wired
//! together in memory through a tiny bus and store that carry each core's
//! `poll_shared` effects to the inputs of every core, in a virtual clock.
#![allow(clippy::disallowed_methods)] // one real Instant is the virtual epoch

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use actionhero_ws::cluster::{ChannelCodec, ChannelConfig, ChannelMessage, MemoryStore};
use actionhero_ws::handshake::Handshake;
use actionhero_ws::server::{
    ChatHooks, CloseCause, ConnectionInfo, Event, Output, RoomCommand, RoomError, Server,
    ServerConfig, SharedOutput, SharedRoomsConfig, StoreAnswer, StoreRequestId, TimerKind,
};
use actionhero_ws::{ConnectionHandle, Frame, RoomName};
use proptest::prelude::*;
use serde_json::{Map, Value};

const EPOCH_MS: u64 = 1_795_615_000_000;

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

/// The in-process store: Redis's room set and members hashes (insertion order).
type Store = MemoryStore;

/// Cores + bus + store + virtual clock.
struct Cluster {
    cores: Vec<Server>,
    now: Instant,
    start: Instant,
    store: Store,
    /// Messages on the bus, in publish order, as the bytes a Redis channel carries.
    bus: VecDeque<String>,
    /// Store answers on their way back: (core, id, answer).
    answers: VecDeque<(usize, StoreRequestId, StoreAnswer)>,
    /// Cores whose store connection is cut: their queries are never answered.
    cut: BTreeSet<usize>,
    inbox: BTreeMap<(usize, ConnectionHandle), Vec<String>>,
    events: Vec<Vec<Event>>,
    codec: ChannelCodec,
    /// Every channel message published, decoded, for assertions.
    published: Vec<ChannelMessage>,
    next_port: u16,
}

impl Cluster {
    fn new(n: usize) -> Self {
        Self::with(n, &ServerConfig::default(), |_| {})
    }

    fn with(n: usize, config: &ServerConfig, tune: impl Fn(&mut SharedRoomsConfig)) -> Self {
        let start = Instant::now(); // virtual epoch
        let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
        let cores = (0..n)
            .map(|i| {
                let mut shared = SharedRoomsConfig::new(format!("node-{i}"));
                tune(&mut shared);
                let config = config.clone();
                let mut core =
                    Server::with_shared_rooms(config, shared, [i as u8 + 1; 32], start, unix)
                        .unwrap();
                // As an adapter does: the first deadline (the node's heartbeat) is due.
                core.handle_timeout(start);
                core
            })
            .collect();
        let mut cluster = Self {
            cores,
            now: start,
            start,
            store: Store::default(),
            bus: VecDeque::new(),
            answers: VecDeque::new(),
            cut: BTreeSet::new(),
            inbox: BTreeMap::new(),
            events: vec![Vec::new(); n],
            codec: ChannelCodec::new(ChannelConfig::default()).unwrap(),
            published: Vec::new(),
            next_port: 40_000,
        };
        cluster.pump();
        cluster
    }

    /// Carries every output to its destination until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = self.drain();
            moved |= self.deliver_bus();
            moved |= self.deliver_answer();
            if !moved {
                break;
            }
        }
        self.check_deadlines();
    }

    /// Drains every core: frames to inboxes, events kept, publishes onto the bus, store
    /// operations applied (answers queued). True if anything came out.
    fn drain(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.cores.len() {
            while let Some(out) = self.cores[i].poll_output() {
                moved = true;
                match out {
                    Output::Transmit(t) => {
                        let text = match t.frame {
                            Frame::Text(t) => t.to_string(),
                            other => format!("{other:?}"),
                        };
                        self.inbox.entry((i, t.conn)).or_default().push(text);
                    }
                    Output::Event(e) => self.events[i].push(e),
                    Output::Http(h) => panic!("no web request: {h:?}"),
                }
            }
            while let Some(out) = self.cores[i].poll_shared() {
                moved = true;
                match out {
                    SharedOutput::Publish(m) => {
                        let bytes = self.codec.encode(&m);
                        self.published.push(m);
                        self.bus.push_back(bytes);
                    }
                    SharedOutput::Store(op) => {
                        let answer = self.store.apply(op);
                        if let Some((id, a)) = answer {
                            if !self.cut.contains(&i) {
                                self.answers.push_back((i, id, a));
                            }
                        }
                    }
                    other => panic!("unexpected shared output {other:?}"),
                }
            }
        }
        moved
    }

    /// Hands the oldest bus message to every core.
    fn deliver_bus(&mut self) -> bool {
        let Some(bytes) = self.bus.pop_front() else {
            return false;
        };
        let message = self
            .codec
            .decode(bytes.as_bytes())
            .expect("a valid message");
        for core in &mut self.cores {
            core.handle_channel(message.clone(), self.now);
        }
        true
    }

    /// Hands the oldest store answer to the core that asked.
    fn deliver_answer(&mut self) -> bool {
        let Some((i, id, answer)) = self.answers.pop_front() else {
            return false;
        };
        self.cores[i].handle_store(id, answer, self.now);
        true
    }

    fn check_deadlines(&self) {
        for core in &self.cores {
            if let Some(t) = core.poll_timeout() {
                assert!(t > self.now, "deadline in the past after a drain");
            }
        }
    }

    fn open(&mut self, core: usize) -> ConnectionHandle {
        self.next_port += 1;
        let peer: SocketAddr = format!("127.0.0.1:{}", self.next_port).parse().unwrap();
        let h = self.cores[core]
            .handle_open(Handshake::for_peer(peer, None), self.now)
            .unwrap();
        self.pump();
        self.inbox.entry((core, h)).or_default().clear();
        h
    }

    fn id(&self, core: usize, h: ConnectionHandle) -> String {
        self.cores[core].connection(h).unwrap().id.to_string()
    }

    fn send(&mut self, core: usize, h: ConnectionHandle, text: &str) {
        self.cores[core].handle_text(h, text, self.now);
        self.pump();
    }

    /// The frames `h` on `core` received since the last call.
    fn take(&mut self, core: usize, h: ConnectionHandle) -> Vec<String> {
        std::mem::take(self.inbox.entry((core, h)).or_default())
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        for core in &mut self.cores {
            core.handle_timeout(self.now);
        }
        self.pump();
    }

    fn ms(&self) -> u64 {
        EPOCH_MS + self.now.duration_since(self.start).as_millis() as u64
    }

    /// Creates a room from `core` and checks the outcome.
    fn create(&mut self, core: usize, name: &str) {
        self.cores[core].create_room(room(name)).unwrap();
        self.pump();
        assert_eq!(
            self.done(core),
            vec![(RoomCommand::Create, room(name), Ok(()))]
        );
    }

    fn done(&mut self, core: usize) -> Vec<(RoomCommand, RoomName, Result<(), RoomError>)> {
        let mut out = Vec::new();
        self.events[core].retain(|e| match e {
            Event::RoomCommandDone {
                command,
                room,
                result,
            } => {
                out.push((command.clone(), room.clone(), result.clone()));
                false
            }
            _ => true,
        });
        out
    }
}

fn say(room: &str, message: &str, id: u64) -> String {
    format!(r#"{{"event":"say","room":"{room}","message":"{message}","messageId":{id}}}"#)
}

fn verb(event: &str, room: &str, id: u64) -> String {
    format!(r#"{{"event":"{event}","room":"{room}","messageId":{id}}}"#)
}

fn ok(id: u64) -> String {
    format!(r#"{{"status":"OK","context":"response","data":true,"messageId":{id}}}"#)
}

fn chat(message: &str, room: &str, from: &str, sent_at: u64) -> String {
    format!(
        r#"{{"message":"{message}","room":"{room}","from":"{from}","context":"user","sentAt":{sent_at}}}"#
    )
}

/// Three cores, one client each in `defaultRoom`.
fn three_in_a_room() -> (Cluster, [ConnectionHandle; 3]) {
    let mut c = Cluster::new(3);
    c.create(0, "defaultRoom");
    let hs = [c.open(0), c.open(1), c.open(2)];
    for (i, h) in hs.iter().enumerate() {
        c.send(i, *h, &verb("roomAdd", "defaultRoom", 1));
        assert_eq!(c.take(i, *h), vec![ok(1)]);
    }
    (c, hs)
}

#[test]
fn a_say_reaches_every_core_once_with_the_local_frames() {
    let (mut c, [a, b, d]) = three_in_a_room();
    c.advance(Duration::from_millis(250));
    let from = c.id(1, b);
    c.send(1, b, &say("defaultRoom", "hello", 2));
    let copy = chat("hello", "defaultRoom", &from, c.ms());
    assert_eq!(
        c.take(1, b),
        vec![
            r#"{"status":"OK","context":"response","messageId":2}"#.to_string(),
            copy.clone()
        ]
    );
    assert_eq!(c.take(0, a), vec![copy.clone()]);
    assert_eq!(c.take(2, d), vec![copy]);
    // Exactly one publish, carrying the four fields Actionhero publishes.
    let chats: Vec<_> = c
        .published
        .iter()
        .filter(|m| matches!(m, ChannelMessage::Chat(_)))
        .collect();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].server_id(), "node-1");
}

#[test]
fn the_frames_equal_the_local_path() {
    // The same client sequence on one core of a cluster and on a local server with the
    // same seed gives the same bytes.
    let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
    let mut c = Cluster::new(2);
    c.create(1, "r");
    let h = c.open(0);
    let start = c.start;
    let mut local = Server::new(ServerConfig::default(), [1; 32], start, unix).unwrap();
    local.create_room(room("r")).unwrap();
    let peer: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let lh = local
        .handle_open(Handshake::for_peer(peer, None), start)
        .unwrap();
    while local.poll_output().is_some() {}
    let script = [
        verb("roomAdd", "r", 1),
        verb("roomAdd", "r", 2),
        say("r", "hi there", 3),
        r#"{"event":"detailsView","messageId":4}"#.to_string(),
        verb("roomView", "r", 5),
        say("nope", "x", 6),
        verb("roomLeave", "r", 7),
        verb("roomView", "r", 8),
        verb("roomAdd", "missing", 9),
    ];
    let mut local_frames = Vec::new();
    for (step, text) in script.iter().enumerate() {
        let now = start + Duration::from_millis(10 * step as u64);
        c.now = now;
        c.send(0, h, text);
        local.handle_text(lh, text, now);
        while let Some(out) = local.poll_output() {
            if let Output::Transmit(t) = out {
                if let Frame::Text(t) = t.frame {
                    local_frames.push(t.to_string());
                }
            }
        }
    }
    assert_eq!(c.take(0, h), local_frames);
}

#[test]
fn room_view_counts_members_on_every_core() {
    let (mut c, [a, b, d]) = three_in_a_room();
    let ids = [c.id(0, a), c.id(1, b), c.id(2, d)];
    c.send(2, d, &verb("roomView", "defaultRoom", 7));
    let members: Vec<String> = ids
        .iter()
        .map(|id| format!(r#""{id}":{{"id":"{id}","joinedAt":{EPOCH_MS}}}"#))
        .collect();
    assert_eq!(
        c.take(2, d),
        vec![format!(
            r#"{{"status":"OK","context":"response","data":{{"room":"defaultRoom","members":{{{}}},"membersCount":3}},"messageId":7}}"#,
            members.join(",")
        )]
    );
    // A leave and a disconnect are seen by the next view anywhere.
    c.send(0, a, &verb("roomLeave", "defaultRoom", 8));
    assert_eq!(c.take(0, a), vec![ok(8)]);
    c.cores[1].handle_closed(b, CloseCause::Remote { code: None }, c.now);
    c.pump();
    c.send(2, d, &verb("roomView", "defaultRoom", 9));
    let frame = c.take(2, d).pop().unwrap();
    assert!(frame.contains(r#""membersCount":1"#), "{frame}");
    assert_eq!(c.store.members("defaultRoom").len(), 1);
    assert_eq!(c.store.members("defaultRoom")[0].host, "node-2");
}

#[test]
fn rooms_created_or_destroyed_on_one_core_are_seen_on_all() {
    let (mut c, [a, b, d]) = three_in_a_room();
    // Created on core 2, joined from core 0.
    c.create(2, "other");
    c.send(0, a, &verb("roomAdd", "other", 2));
    assert_eq!(c.take(0, a), vec![ok(2)]);
    c.cores[1].create_room(room("other")).unwrap();
    c.pump();
    assert_eq!(
        c.done(1),
        vec![(
            RoomCommand::Create,
            room("other"),
            Err(RoomError::AlreadyExists)
        )]
    );
    // Destroyed from core 1 (which has no member in it): core 0's member gets the
    // notice and leaves.
    c.advance(Duration::from_millis(5));
    c.cores[1]
        .destroy_room(&room("defaultRoom"), c.now)
        .unwrap();
    c.pump();
    assert_eq!(
        c.done(1),
        vec![(RoomCommand::Destroy, room("defaultRoom"), Ok(()))]
    );
    let notice = chat("this room has been deleted", "defaultRoom", "0", c.ms());
    for (i, h) in [(0, a), (1, b), (2, d)] {
        assert_eq!(c.take(i, h), vec![notice.clone()], "core {i}");
        assert!(
            c.cores[i]
                .connection(h)
                .unwrap()
                .rooms
                .iter()
                .all(|r| r.as_str() != "defaultRoom"),
            "core {i} still lists the room"
        );
        assert!(c.events[i].contains(&Event::RoomLeft {
            conn: h,
            room: room("defaultRoom")
        }));
    }
    assert!(!c.store.room_exists("defaultRoom"));
    assert!(c.store.members("defaultRoom").is_empty());
    c.send(2, d, &verb("roomAdd", "defaultRoom", 3));
    assert_eq!(
        c.take(2, d),
        vec![
            r#"{"status":"Error: room does not exist","error":"Error: room does not exist","context":"response","data":{},"messageId":3}"#
        ]
    );
    // A room that does not exist cannot be destroyed.
    c.cores[0]
        .destroy_room(&room("defaultRoom"), c.now)
        .unwrap();
    c.pump();
    assert_eq!(
        c.done(0),
        vec![(
            RoomCommand::Destroy,
            room("defaultRoom"),
            Err(RoomError::NotFound)
        )]
    );
}

#[test]
fn remove_member_reaches_the_core_that_owns_the_connection() {
    let (mut c, [a, b, _]) = three_in_a_room();
    let remote = c.id(1, b);
    c.cores[0]
        .remove_member_by_id(&remote, &room("defaultRoom"), c.now)
        .unwrap();
    c.pump();
    assert_eq!(
        c.done(0),
        vec![(
            RoomCommand::RemoveMember(remote.clone()),
            room("defaultRoom"),
            Ok(())
        )]
    );
    assert!(c.cores[1].connection(b).unwrap().rooms.is_empty());
    assert!(c.events[1].contains(&Event::RoomLeft {
        conn: b,
        room: room("defaultRoom")
    }));
    // Answered with `true` by the owner only, as Actionhero expects.
    let answers: Vec<_> = c
        .published
        .iter()
        .filter_map(|m| match m {
            ChannelMessage::Response(r) => Some((r.server_id.clone(), r.response.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![("node-1".to_string(), Some(Value::Bool(true)))]
    );
    // A say no longer reaches it.
    c.send(0, a, &say("defaultRoom", "still here?", 2));
    assert!(c.take(1, b).is_empty());
    // A connection nobody owns: the call times out.
    c.cores[0]
        .remove_member_by_id("nobody", &room("defaultRoom"), c.now)
        .unwrap();
    c.pump();
    assert!(c.done(0).is_empty());
    assert_eq!(c.cores[0].timeout_reason(), Some(TimerKind::SharedRequest));
    c.advance(Duration::from_millis(5000));
    assert_eq!(
        c.done(0),
        vec![(
            RoomCommand::RemoveMember("nobody".into()),
            room("defaultRoom"),
            Err(RoomError::Timeout)
        )]
    );
}

#[test]
fn add_member_waits_for_the_store_and_answers_rpcs() {
    let mut c = Cluster::new(2);
    c.create(0, "r");
    let a = c.open(0);
    let b = c.open(1);
    c.cores[0].add_member(a, &room("r"), c.now).unwrap();
    assert!(
        c.cores[0].connection(a).unwrap().rooms.is_empty(),
        "waits for the store"
    );
    c.pump();
    assert_eq!(
        c.done(0),
        vec![(RoomCommand::AddMember(a), room("r"), Ok(()))]
    );
    assert_eq!(c.cores[0].connection(a).unwrap().rooms, &[room("r")]);
    // An Actionhero-style addMember RPC for core 1's connection is run there.
    let call = actionhero_ws::cluster::RpcCall::new(
        "node-x",
        "m-1",
        "api.chatRoom.addMember",
        Some(c.id(1, b)),
        vec![Value::String(c.id(1, b)), Value::String("r".into())],
    );
    for core in &mut c.cores {
        core.handle_channel(ChannelMessage::Call(call.clone()), c.now);
    }
    c.pump();
    assert_eq!(c.cores[1].connection(b).unwrap().rooms, &[room("r")]);
    assert!(c.published.iter().any(|m| matches!(m,
        ChannelMessage::Response(r) if r.message_id == "m-1" && r.server_id == "node-1"
    )));
    assert_eq!(c.store.members("r").len(), 2);
}

#[test]
fn a_pending_room_view_times_out_with_a_clear_error() {
    let (mut c, [a, _, _]) = three_in_a_room();
    c.cut.insert(0);
    c.send(0, a, &verb("roomView", "defaultRoom", 4));
    assert!(c.take(0, a).is_empty(), "waits for the store");
    assert_eq!(c.cores[0].timeout_reason(), Some(TimerKind::SharedRequest));
    c.advance(Duration::from_millis(4999));
    assert!(c.take(0, a).is_empty());
    c.advance(Duration::from_millis(1));
    assert_eq!(
        c.take(0, a),
        vec![
            r#"{"status":"Error: room request timed out","error":"Error: room request timed out","context":"response","data":{},"messageId":4}"#
        ]
    );
    // The next heartbeat is the only deadline left.
    assert_ne!(c.cores[0].timeout_reason(), Some(TimerKind::SharedRequest));
    // A roomAdd times out the same way; nothing is joined.
    c.create(1, "late");
    c.send(0, a, &verb("roomAdd", "late", 5));
    c.advance(Duration::from_millis(5000));
    assert_eq!(
        c.take(0, a),
        vec![
            r#"{"status":"Error: room request timed out","error":"Error: room request timed out","context":"response","data":{},"messageId":5}"#
        ]
    );
    assert_eq!(
        c.cores[0].connection(a).unwrap().rooms,
        &[room("defaultRoom")]
    );
}

#[test]
fn pending_requests_are_bounded() {
    let mut c = Cluster::with(1, &ServerConfig::default(), |s| {
        s.max_pending_requests = 2;
    });
    c.create(0, "r");
    let a = c.open(0);
    c.send(0, a, &verb("roomAdd", "r", 1));
    c.cut.insert(0);
    c.send(0, a, &verb("roomView", "r", 2));
    c.send(0, a, &verb("roomView", "r", 3));
    c.send(0, a, &verb("roomView", "r", 4));
    assert_eq!(
        c.take(0, a),
        vec![
            ok(1),
            r#"{"status":"Error: too many pending room requests","error":"Error: too many pending room requests","context":"response","data":{},"messageId":4}"#.to_string()
        ]
    );
    assert_eq!(c.cores[0].create_room(room("x")), Err(RoomError::Busy));
}

#[test]
fn one_connection_cannot_take_every_pending_slot() {
    let mut c = Cluster::with(1, &ServerConfig::default(), |s| {
        s.max_pending_per_connection = 2;
    });
    c.create(0, "r");
    let (a, b) = (c.open(0), c.open(0));
    for h in [a, b] {
        c.send(0, h, &verb("roomAdd", "r", 1));
        assert_eq!(c.take(0, h), vec![ok(1)]);
    }
    c.cut.insert(0);
    for id in 2..5 {
        c.send(0, a, &verb("roomView", "r", id));
    }
    assert_eq!(
        c.take(0, a),
        vec![
            r#"{"status":"Error: too many pending room requests","error":"Error: too many pending room requests","context":"response","data":{},"messageId":4}"#
        ]
    );
    c.send(0, b, &verb("roomView", "r", 5));
    assert!(c.take(0, b).is_empty(), "b's view waits");
    // Once the waits end (here by timing out), `a` may ask again.
    c.advance(Duration::from_secs(5));
    assert_eq!(c.take(0, a).len(), 2);
    c.cut.clear();
    c.send(0, a, &verb("roomView", "r", 6));
    let frame = c.take(0, a).pop().unwrap();
    assert!(frame.contains(r#""membersCount":2"#), "{frame}");
}

/// Hooks that tag each delivered copy with the receiving core.
struct Tag(&'static str);

impl ChatHooks for Tag {
    fn say(
        &mut self,
        _receiver: ConnectionInfo<'_>,
        _room: &RoomName,
        mut payload: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        payload.insert("core".into(), Value::String(self.0.into()));
        Some(payload)
    }

    fn on_say_receive(
        &mut self,
        _sender: Option<ConnectionInfo<'_>>,
        payload: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        Ok(payload.map(|mut p| {
            if let Some(Value::String(m)) = p.get("message") {
                let upper = m.to_uppercase();
                p.insert("message".into(), Value::String(upper));
            }
            p
        }))
    }
}

#[test]
fn say_receive_runs_on_the_sender_and_say_hooks_on_each_receiver() {
    let mut c = Cluster::new(2);
    c.cores[0].add_chat_hooks(100, Box::new(Tag("zero")));
    c.cores[1].add_chat_hooks(100, Box::new(Tag("one")));
    c.create(0, "r");
    let a = c.open(0);
    let b = c.open(1);
    for (i, h) in [(0, a), (1, b)] {
        c.send(i, h, &verb("roomAdd", "r", 1));
        c.take(i, h);
    }
    let from = c.id(0, a);
    c.send(0, a, &say("r", "hi", 2));
    let ms = c.ms();
    let copy = |core: &str| {
        format!(
            r#"{{"message":"HI","room":"r","from":"{from}","context":"user","sentAt":{ms},"core":"{core}"}}"#
        )
    };
    assert_eq!(
        c.take(0, a),
        vec![
            r#"{"status":"OK","context":"response","messageId":2}"#.to_string(),
            copy("zero")
        ]
    );
    assert_eq!(c.take(1, b), vec![copy("one")]);
    // A server broadcast from core 1 reaches both too.
    assert_eq!(
        c.cores[1].broadcast(&room("r"), Value::String("news".into()), c.now),
        Ok(0)
    );
    c.pump();
    assert_eq!(c.take(0, a).len(), 1);
    assert_eq!(c.take(1, b).len(), 1);
}

#[test]
fn without_shared_rooms_nothing_is_emitted_and_channel_input_is_ignored() {
    let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
    let start = Instant::now(); // virtual epoch
    let mut s = Server::new(ServerConfig::default(), [1; 32], start, unix).unwrap();
    s.create_room(room("r")).unwrap();
    let peer: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let h = s
        .handle_open(Handshake::for_peer(peer, None), start)
        .unwrap();
    s.handle_text(h, &verb("roomAdd", "r", 1), start);
    s.handle_text(h, &say("r", "x", 2), start);
    while s.poll_output().is_some() {}
    assert!(s.poll_shared().is_none());
    let m = ChannelMessage::Chat(actionhero_ws::cluster::ChatMessage {
        server_id: "n".into(),
        room: room("r"),
        from: "z".into(),
        message: Value::String("x".into()),
        sent_at: 1,
    });
    s.handle_channel(m, start);
    assert!(s.poll_output().is_none());
}

// ---- property model ---------------------------------------------------------------

const ROOMS: [&str; 2] = ["a", "b"];
const CORES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Open(usize),
    Close(usize),
    Join(usize, usize),
    Leave(usize, usize),
    Say(usize, usize),
    View(usize, usize),
    Create(usize, usize),
    Destroy(usize, usize),
    RemoveById(usize, usize, usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let core = 0..CORES;
    let r = 0..ROOMS.len();
    prop_oneof![
        3 => core.clone().prop_map(Op::Open),
        1 => any::<usize>().prop_map(Op::Close),
        4 => (any::<usize>(), r.clone()).prop_map(|(k, r)| Op::Join(k, r)),
        2 => (any::<usize>(), r.clone()).prop_map(|(k, r)| Op::Leave(k, r)),
        4 => (any::<usize>(), r.clone()).prop_map(|(k, r)| Op::Say(k, r)),
        2 => (any::<usize>(), r.clone()).prop_map(|(k, r)| Op::View(k, r)),
        1 => (core.clone(), r.clone()).prop_map(|(c, r)| Op::Create(c, r)),
        1 => (core.clone(), r.clone()).prop_map(|(c, r)| Op::Destroy(c, r)),
        1 => (core, any::<usize>(), r).prop_map(|(c, k, r)| Op::RemoveById(c, k, r)),
        1 => (0u64..3000).prop_map(Op::Advance),
    ]
}

/// A live connection: its core, handle and id.
#[derive(Clone, Debug)]
struct Peer {
    core: usize,
    h: ConnectionHandle,
    id: String,
}

/// The reference: which rooms exist and who is in them (by connection id).
#[derive(Default)]
struct Model {
    rooms: BTreeSet<usize>,
    members: BTreeMap<usize, BTreeSet<String>>,
    peers: Vec<Peer>,
}

impl Model {
    fn peer(&self, k: usize) -> Option<Peer> {
        if self.peers.is_empty() {
            return None;
        }
        self.peers.get(k % self.peers.len()).cloned()
    }

    fn is_member(&self, r: usize, id: &str) -> bool {
        self.members.get(&r).is_some_and(|m| m.contains(id))
    }
}

fn parse(frame: &str) -> Value {
    serde_json::from_str(frame).unwrap_or(Value::Null)
}

/// Frames of `p` since the last look, parsed.
fn take_parsed(c: &mut Cluster, p: &Peer) -> Vec<Value> {
    c.take(p.core, p.h).iter().map(|f| parse(f)).collect()
}

fn run(ops: Vec<Op>) {
    let config = ServerConfig {
        ping_interval: None,
        ..ServerConfig::default()
    };
    let mut c = Cluster::with(CORES, &config, |_| {});
    let mut m = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        let step = step as u64;
        match op {
            Op::Open(core) => {
                let h = c.open(core);
                let id = c.id(core, h);
                m.peers.push(Peer { core, h, id });
            }
            Op::Close(k) => {
                let Some(p) = m.peer(k) else { continue };
                c.cores[p.core].handle_closed(p.h, CloseCause::Remote { code: None }, c.now);
                c.pump();
                m.peers.retain(|q| q.id != p.id);
                for set in m.members.values_mut() {
                    set.remove(&p.id);
                }
            }
            Op::Join(k, r) => {
                let Some(p) = m.peer(k) else { continue };
                c.send(p.core, p.h, &verb("roomAdd", ROOMS[r], step));
                let got = take_parsed(&mut c, &p);
                let expect_ok = m.rooms.contains(&r) && !m.is_member(r, &p.id);
                assert_eq!(got.len(), 1, "{got:?}");
                assert_eq!(got[0]["status"] == "OK", expect_ok, "{got:?}");
                if expect_ok {
                    m.members.entry(r).or_default().insert(p.id.clone());
                }
            }
            Op::Leave(k, r) => {
                let Some(p) = m.peer(k) else { continue };
                c.send(p.core, p.h, &verb("roomLeave", ROOMS[r], step));
                let got = take_parsed(&mut c, &p);
                assert_eq!(got[0]["status"] == "OK", m.is_member(r, &p.id), "{got:?}");
                if let Some(set) = m.members.get_mut(&r) {
                    set.remove(&p.id);
                }
            }
            Op::Say(k, r) => {
                let Some(p) = m.peer(k) else { continue };
                let text = format!("m{step}");
                c.send(p.core, p.h, &say(ROOMS[r], &text, step));
                let allowed = m.is_member(r, &p.id);
                for q in m.peers.clone() {
                    let got = take_parsed(&mut c, &q);
                    let copies = got.iter().filter(|v| v["message"] == text.as_str()).count();
                    let expected = usize::from(allowed && m.is_member(r, &q.id));
                    assert_eq!(copies, expected, "{q:?} got {got:?}");
                    if q.id == p.id {
                        assert_eq!(got[0]["status"] == "OK", allowed, "{got:?}");
                    }
                }
            }
            Op::View(k, r) => {
                let Some(p) = m.peer(k) else { continue };
                c.send(p.core, p.h, &verb("roomView", ROOMS[r], step));
                let got = take_parsed(&mut c, &p);
                assert_eq!(got.len(), 1, "{got:?}");
                if m.is_member(r, &p.id) {
                    let count = m.members[&r].len();
                    assert_eq!(got[0]["data"]["membersCount"], count, "{got:?}");
                } else {
                    assert_ne!(got[0]["status"], "OK");
                }
            }
            Op::Create(core, r) => {
                c.cores[core].create_room(room(ROOMS[r])).unwrap();
                c.pump();
                let done = c.done(core);
                let result = if m.rooms.insert(r) {
                    Ok(())
                } else {
                    Err(RoomError::AlreadyExists)
                };
                assert_eq!(done, vec![(RoomCommand::Create, room(ROOMS[r]), result)]);
            }
            Op::Destroy(core, r) => {
                c.cores[core].destroy_room(&room(ROOMS[r]), c.now).unwrap();
                c.pump();
                let done = c.done(core);
                let existed = m.rooms.remove(&r);
                let result = if existed {
                    Ok(())
                } else {
                    Err(RoomError::NotFound)
                };
                assert_eq!(done, vec![(RoomCommand::Destroy, room(ROOMS[r]), result)]);
                let members = m.members.remove(&r).unwrap_or_default();
                for q in m.peers.clone() {
                    let got = take_parsed(&mut c, &q);
                    let notices = got
                        .iter()
                        .filter(|v| v["message"] == "this room has been deleted")
                        .count();
                    assert_eq!(notices, usize::from(members.contains(&q.id)), "{q:?}");
                }
            }
            Op::RemoveById(core, k, r) => {
                let Some(p) = m.peer(k) else { continue };
                let member = m.is_member(r, &p.id);
                let result = c.cores[core].remove_member_by_id(&p.id, &room(ROOMS[r]), c.now);
                c.pump();
                if core == p.core {
                    assert_eq!(result.is_ok(), member);
                } else if member {
                    assert_eq!(
                        c.done(core),
                        vec![(
                            RoomCommand::RemoveMember(p.id.clone()),
                            room(ROOMS[r]),
                            Ok(())
                        )]
                    );
                }
                if let Some(set) = m.members.get_mut(&r) {
                    set.remove(&p.id);
                }
            }
            Op::Advance(ms) => {
                c.advance(Duration::from_millis(ms));
                // Only calls for a connection not in the room wait long enough to expire.
                for core in 0..CORES {
                    for (command, _, result) in c.done(core) {
                        assert!(matches!(command, RoomCommand::RemoveMember(_)));
                        assert_eq!(result, Err(RoomError::Timeout));
                    }
                }
            }
        }
        check(&c, &m);
    }
}

/// Every core's own memberships and the store agree with the model.
fn check(c: &Cluster, m: &Model) {
    for p in &m.peers {
        let mine: BTreeSet<String> = c.cores[p.core]
            .connection(p.h)
            .unwrap()
            .rooms
            .iter()
            .map(ToString::to_string)
            .collect();
        let model: BTreeSet<String> = m
            .members
            .iter()
            .filter(|(_, set)| set.contains(&p.id))
            .map(|(r, _)| ROOMS[*r].to_string())
            .collect();
        assert_eq!(mine, model, "{p:?}");
    }
    let rooms: BTreeSet<String> = m.rooms.iter().map(|r| ROOMS[*r].to_string()).collect();
    assert_eq!(
        c.store.rooms().map(str::to_owned).collect::<BTreeSet<_>>(),
        rooms
    );
    for r in &m.rooms {
        let stored: BTreeSet<String> = c
            .store
            .members(ROOMS[*r])
            .iter()
            .map(|rec| rec.id.clone())
            .collect();
        let model = m.members.get(r).cloned().unwrap_or_default();
        assert_eq!(stored, model, "room {}", ROOMS[*r]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn cores_sharing_rooms_agree_with_one_reference(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

// ---- the same under any delivery order ---------------------------------------------

#[derive(Clone, Debug)]
enum Chaos {
    Op(Op),
    /// Deliver the oldest bus message.
    Bus,
    /// Deliver the oldest store answer.
    Answer,
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        3 => op().prop_map(Chaos::Op),
        2 => Just(Chaos::Bus),
        2 => Just(Chaos::Answer),
    ]
}

/// Inputs go in without waiting for their effects; the bus and the store answer in an
/// order the test picks. Afterwards (everything delivered, every deadline past):
/// every request of a live client was answered exactly once, no client got a chat
/// message twice, and every record the store holds for an existing room is a member
/// on the core named by its `host`. (The converse has one exception, Actionhero's
/// too: a join whose record is written after a destroy read the members stays a
/// local member of the destroyed room; docs/architecture.md#shared-rooms.)
fn run_chaos(steps: Vec<Chaos>) {
    let config = ServerConfig {
        ping_interval: None,
        ..ServerConfig::default()
    };
    let mut c = Cluster::with(CORES, &config, |_| {});
    let mut peers: Vec<Peer> = Vec::new();
    // (core, handle) → message ids sent.
    let mut sent: BTreeMap<(usize, ConnectionHandle), Vec<u64>> = BTreeMap::new();
    let pick =
        |peers: &[Peer], k: usize| (!peers.is_empty()).then(|| peers[k % peers.len()].clone());
    for (step, s) in steps.into_iter().enumerate() {
        let id = step as u64;
        let mut request = |c: &mut Cluster, p: &Peer, text: String| {
            c.cores[p.core].handle_text(p.h, &text, c.now);
            sent.entry((p.core, p.h)).or_default().push(id);
        };
        match s {
            Chaos::Bus => {
                c.deliver_bus();
            }
            Chaos::Answer => {
                c.deliver_answer();
            }
            Chaos::Op(Op::Open(core)) => {
                let h = c.cores[core]
                    .handle_open(
                        Handshake::for_peer("127.0.0.1:1".parse().unwrap(), None),
                        c.now,
                    )
                    .unwrap();
                let id = c.id(core, h);
                peers.push(Peer { core, h, id });
            }
            Chaos::Op(Op::Close(k)) => {
                let Some(p) = pick(&peers, k) else { continue };
                c.cores[p.core].handle_closed(p.h, CloseCause::Remote { code: None }, c.now);
                peers.retain(|q| q.id != p.id);
                sent.remove(&(p.core, p.h));
            }
            Chaos::Op(Op::Join(k, r)) => {
                let Some(p) = pick(&peers, k) else { continue };
                request(&mut c, &p, verb("roomAdd", ROOMS[r], id));
            }
            Chaos::Op(Op::Leave(k, r)) => {
                let Some(p) = pick(&peers, k) else { continue };
                request(&mut c, &p, verb("roomLeave", ROOMS[r], id));
            }
            Chaos::Op(Op::Say(k, r)) => {
                let Some(p) = pick(&peers, k) else { continue };
                request(&mut c, &p, say(ROOMS[r], &format!("m{id}"), id));
            }
            Chaos::Op(Op::View(k, r)) => {
                let Some(p) = pick(&peers, k) else { continue };
                request(&mut c, &p, verb("roomView", ROOMS[r], id));
            }
            Chaos::Op(Op::Create(core, r)) => {
                let _ = c.cores[core].create_room(room(ROOMS[r]));
            }
            Chaos::Op(Op::Destroy(core, r)) => {
                let _ = c.cores[core].destroy_room(&room(ROOMS[r]), c.now);
            }
            Chaos::Op(Op::RemoveById(core, k, r)) => {
                let Some(p) = pick(&peers, k) else { continue };
                let _ = c.cores[core].remove_member_by_id(&p.id, &room(ROOMS[r]), c.now);
            }
            Chaos::Op(Op::Advance(ms)) => {
                c.now += Duration::from_millis(ms);
                for core in &mut c.cores {
                    core.handle_timeout(c.now);
                }
            }
        }
        c.drain();
        c.check_deadlines();
    }
    c.pump();
    c.advance(Duration::from_secs(6));
    for p in &peers {
        let frames: Vec<Value> = c.take(p.core, p.h).iter().map(|f| parse(f)).collect();
        let mut answered: Vec<u64> = frames
            .iter()
            .filter_map(|v| v.get("messageId").and_then(Value::as_u64))
            .collect();
        answered.sort_unstable();
        let mut asked = sent.remove(&(p.core, p.h)).unwrap_or_default();
        asked.sort_unstable();
        assert_eq!(answered, asked, "{p:?}: {frames:?}");
        let mut chats: Vec<&str> = frames
            .iter()
            .filter(|v| v["context"] == "user" && v["from"] != "0")
            .filter_map(|v| v["message"].as_str())
            .collect();
        let n = chats.len();
        chats.sort_unstable();
        chats.dedup();
        assert_eq!(chats.len(), n, "{p:?} got a copy twice: {frames:?}");
    }
    let rooms: Vec<String> = c.store.rooms().map(str::to_owned).collect();
    for r in &rooms {
        for (i, core) in c.cores.iter().enumerate() {
            let mine: BTreeSet<String> = core
                .members(r)
                .into_iter()
                .map(|h| core.connection(h).unwrap().id.to_string())
                .collect();
            let stored: BTreeSet<String> = c
                .store
                .members(r)
                .iter()
                .filter(|rec| rec.host == format!("node-{i}"))
                .map(|rec| rec.id.clone())
                .collect();
            assert!(
                stored.is_subset(&mine),
                "room {r} on core {i}: {stored:?} ⊄ {mine:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_loses_no_answer_and_no_member(steps in proptest::collection::vec(chaos(), 1..80)) {
        run_chaos(steps);
    }
}

#[test]
fn a_dead_nodes_members_are_swept_by_the_survivors() {
    let mut c = Cluster::with(2, &ServerConfig::default(), |s| {
        s.node_ttl = Some(Duration::from_secs(3));
    });
    c.create(0, "defaultRoom");
    let a = c.open(0);
    let b = c.open(1);
    for (i, h) in [(0, a), (1, b)] {
        c.send(i, h, &verb("roomAdd", "defaultRoom", 1));
        assert_eq!(c.take(i, h), vec![ok(1)]);
    }
    assert_eq!(c.store.members("defaultRoom").len(), 2);
    // Core 1 dies: nobody drives it any more; core 0 goes on.
    let dead = c.cores.remove(1);
    drop(dead);
    c.events.truncate(1);
    c.advance(Duration::from_secs(2));
    assert_eq!(c.store.members("defaultRoom").len(), 2, "within its ttl");
    c.advance(Duration::from_secs(2));
    let left: Vec<_> = c
        .store
        .members("defaultRoom")
        .iter()
        .map(|r| r.host.clone())
        .collect();
    assert_eq!(
        left,
        vec!["node-0".to_string()],
        "the dead node's member is gone"
    );
    c.send(0, a, &verb("roomView", "defaultRoom", 2));
    let view = c.take(0, a).join("");
    assert!(view.contains(r#""membersCount":1"#), "{view}");
}
