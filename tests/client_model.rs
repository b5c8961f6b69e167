//! Model test of the client against a scripted fake server (docs/architecture.md#property-models).
//!
//! Random sequences of application commands, server answers (in any order), pings,
//! refused opens, abrupt closes, `primus::server::close`, room destruction, garbage and
//! time jumps (partitions: time passing with no pings) drive one [`Client`]. After every
//! step:
//! * every request issued gets at most one outcome, and at the end exactly one;
//! * after every open, the first frames on the socket are `roomAdd` for exactly the
//!   rooms the client remembered, then `detailsView`, and no application frame goes
//!   out before the `detailsView` answer;
//! * `Connected.rooms` equals the rooms the server has the connection in;
//! * the offline queue never exceeds its capacity;
//! * transmits happen only on an open socket, and an `Open` never overlaps a live one;
//! * `Disconnected` is the last event of its batch;
//! * after a drain, `poll_timeout` is `None` or later than `now`;
//! * the same seed and ops give the same outputs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/cases.rs"]
mod cases;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, UNIX_EPOCH};

use actionhero_ws::client::{
    Client, ClientConfig, ClientEvent, ClientOutput, CloseCause, OpenFailure, QueuePolicy,
};
use actionhero_ws::wire::request::{decode, ClientFrame, Verb};
use actionhero_ws::wire::{primus, reply};
use actionhero_ws::{AttemptId, MessageId, RoomName};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const ROOMS: [&str; 4] = ["r0", "r1", "r2", "r3"];

#[derive(Clone, Debug)]
enum Op {
    Connect,
    Disconnect,
    Action,
    RoomAdd(usize),
    RoomLeave(usize),
    Say(usize),
    Details,
    AcceptOpen,
    RefuseOpen,
    Answer(usize),
    AnswerAll,
    Ping,
    ServerDrop,
    ServerShutdown,
    Garbage(Vec<u8>),
    Advance(u64),
    DestroyRoom(usize),
    CreateRoom(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Connect),
        1 => Just(Op::Disconnect),
        4 => Just(Op::Action),
        3 => (0..ROOMS.len()).prop_map(Op::RoomAdd),
        2 => (0..ROOMS.len()).prop_map(Op::RoomLeave),
        2 => (0..ROOMS.len()).prop_map(Op::Say),
        1 => Just(Op::Details),
        6 => Just(Op::AcceptOpen),
        1 => Just(Op::RefuseOpen),
        6 => (0..8usize).prop_map(Op::Answer),
        4 => Just(Op::AnswerAll),
        2 => Just(Op::Ping),
        1 => Just(Op::ServerDrop),
        1 => Just(Op::ServerShutdown),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Op::Garbage),
        4 => prop_oneof![0..2_000u64, 0..120_000u64].prop_map(Op::Advance),
        1 => (0..ROOMS.len()).prop_map(Op::DestroyRoom),
        1 => (0..ROOMS.len()).prop_map(Op::CreateRoom),
    ]
}

#[derive(Clone, Debug)]
struct Setup {
    seed: [u8; 32],
    queue: usize,
    policy: QueuePolicy,
    retries: u32,
    initial_rooms: Vec<usize>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<[u8; 32]>(),
        0..4usize,
        prop_oneof![Just(QueuePolicy::RejectNew), Just(QueuePolicy::DropOldest)],
        0..4u32,
        proptest::collection::vec(0..ROOMS.len(), 0..3),
    )
        .prop_map(|(seed, queue, policy, retries, initial_rooms)| Setup {
            seed,
            queue,
            policy,
            retries,
            initial_rooms,
        })
}

proptest! {
    // 256 cases for CI; PROPTEST_CASES sets another count.
    #![proptest_config(cases::config(256))]

    #[test]
    fn client_model(setup in setup(), ops in proptest::collection::vec(op(), 0..80)) {
        let first = run(&setup, &ops);
        let second = run(&setup, &ops);
        prop_assert_eq!(first, second, "same seed and ops must give the same outputs");
    }
}

/// Runs one scenario, checks every invariant, and returns the full output log.
fn run(setup: &Setup, ops: &[Op]) -> Vec<ClientOutput> {
    let mut sim = Sim::new(setup);
    for op in ops {
        sim.apply(op.clone());
    }
    // Wind down: answer what can be answered, then stop; every request must have ended.
    sim.apply(Op::AnswerAll);
    sim.apply(Op::Disconnect);
    for (id, n) in &sim.outcomes {
        assert_eq!(*n, 1, "request {id} ended {n} times");
    }
    for id in &sim.issued {
        assert!(sim.outcomes.contains_key(id), "request {id} never ended");
    }
    sim.log
}

/// The fake server's side of one socket.
struct ServerConn {
    attempt: AttemptId,
    id: String,
    joined: BTreeSet<String>,
    /// The rooms the client remembered when the socket opened, in order.
    expect_rejoin: Vec<String>,
    /// Rejoin frames seen so far.
    rejoined: usize,
    /// The detailsView message id once received; answered flips `configured`.
    details_id: Option<MessageId>,
    configured: bool,
    /// Answers not delivered yet (the server may answer in any order, or never).
    answers: Vec<String>,
}

struct Sim {
    client: Client,
    now: Instant,
    queue_cap: usize,
    /// The Open waiting for the server to accept or refuse it.
    pending_open: Option<AttemptId>,
    conn: Option<ServerConn>,
    existing: BTreeSet<String>,
    next_conn: u32,
    issued: BTreeSet<String>,
    outcomes: BTreeMap<String, u32>,
    log: Vec<ClientOutput>,
}

impl Sim {
    fn new(setup: &Setup) -> Self {
        let mut config = ClientConfig::new("http://127.0.0.1:8080");
        config.max_offline_queue = setup.queue;
        config.queue_policy = setup.policy;
        config.max_pending_requests = 8;
        config.reconnect.retries = setup.retries;
        config.rooms = setup
            .initial_rooms
            .iter()
            .map(|i| room(ROOMS[*i]))
            .collect();
        let now = epoch();
        let unix = UNIX_EPOCH + Duration::from_millis(1_795_615_025_305);
        Self {
            client: Client::new(config, setup.seed, now, unix).expect("valid config"),
            now,
            queue_cap: setup.queue,
            pending_open: None,
            conn: None,
            // r3 does not exist at first.
            existing: ROOMS[..3].iter().map(|r| r.to_string()).collect(),
            next_conn: 0,
            issued: BTreeSet::new(),
            outcomes: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Connect => self.client.connect(now),
            Op::Disconnect => self.client.disconnect(now),
            Op::Action => {
                let r = self.client.action("randomNumber", Map::new(), now);
                self.issued_result(r);
            }
            Op::RoomAdd(i) => {
                let r = self.client.room_add(room(ROOMS[i]), now);
                self.issued_result(r);
            }
            Op::RoomLeave(i) => {
                let r = self.client.room_leave(&room(ROOMS[i]), now);
                self.issued_result(r);
            }
            Op::Say(i) => {
                let r = self.client.say(&room(ROOMS[i]), json!("hi"), now);
                self.issued_result(r);
            }
            Op::Details => {
                let r = self.client.details_view(now);
                self.issued_result(r);
            }
            Op::AcceptOpen => {
                if let Some(attempt) = self.pending_open.take() {
                    self.next_conn += 1;
                    let expect_rejoin = self.client.rooms().map(|r| r.to_string()).collect();
                    self.conn = Some(ServerConn {
                        attempt,
                        id: format!("conn-{}", self.next_conn),
                        joined: BTreeSet::new(),
                        expect_rejoin,
                        rejoined: 0,
                        details_id: None,
                        configured: false,
                        answers: vec![reply::encode_welcome("Welcome to the actionhero api")],
                    });
                    self.client.handle_opened(attempt, now);
                }
            }
            Op::RefuseOpen => {
                if let Some(attempt) = self.pending_open.take() {
                    let cause = OpenFailure::Io("connection refused".into());
                    self.client.handle_open_failed(attempt, cause, now);
                }
            }
            Op::Answer(k) => self.deliver(Some(k)),
            Op::AnswerAll => {
                while self.conn.as_ref().is_some_and(|c| !c.answers.is_empty()) {
                    self.deliver(Some(0));
                    self.drain();
                }
            }
            Op::Ping => {
                if let Some(c) = &self.conn {
                    let attempt = c.attempt;
                    self.client
                        .handle_text(attempt, &primus::encode_ping(1_795_615_042_794), now);
                }
            }
            Op::ServerDrop => {
                if let Some(c) = self.conn.take() {
                    let cause = CloseCause::Remote { code: Some(1006) };
                    self.client.handle_closed(c.attempt, cause, now);
                }
            }
            Op::ServerShutdown => {
                if let Some(c) = self.conn.take() {
                    self.client
                        .handle_text(c.attempt, primus::SERVER_CLOSE, now);
                    self.drain();
                    let cause = CloseCause::Remote { code: None };
                    self.client.handle_closed(c.attempt, cause, now);
                }
            }
            Op::Garbage(bytes) => {
                if let Some(c) = &self.conn {
                    let attempt = c.attempt;
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    self.client.handle_text(attempt, &text, now);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
            }
            // Only later joins see it: members stay until they reconnect.
            Op::DestroyRoom(i) => {
                self.existing.remove(ROOMS[i]);
            }
            Op::CreateRoom(i) => {
                self.existing.insert(ROOMS[i].to_string());
            }
        }
        self.drain();
    }

    fn issued_result(&mut self, r: Result<MessageId, actionhero_ws::error::UsageError>) {
        if let Ok(id) = r {
            assert!(self.issued.insert(id.to_string()), "id {id} reused");
        }
    }

    /// Delivers the `k`-th undelivered answer (modulo their number).
    fn deliver(&mut self, k: Option<usize>) {
        let Some(c) = &mut self.conn else { return };
        if c.answers.is_empty() {
            return;
        }
        let i = k.unwrap_or(0) % c.answers.len();
        let text = c.answers.remove(i);
        if let (Some(details), Ok(v)) = (&c.details_id, serde_json::from_str::<Value>(&text)) {
            if MessageId::from_json(&v["messageId"]).as_ref() == Some(details) {
                c.configured = true;
            }
        }
        let attempt = c.attempt;
        self.client.handle_text(attempt, &text, self.now);
    }

    fn drain(&mut self) {
        let mut batch = Vec::new();
        while let Some(out) = self.client.poll_output() {
            batch.push(out);
        }
        if let Some(t) = self.client.poll_timeout() {
            assert!(t > self.now, "deadline {t:?} not after now {:?}", self.now);
        }
        assert!(
            self.client.queued_requests() <= self.queue_cap,
            "queue {} over capacity {}",
            self.client.queued_requests(),
            self.queue_cap
        );
        let last_event = batch
            .iter()
            .rposition(|o| matches!(o, ClientOutput::Event(_)));
        for (i, out) in batch.iter().enumerate() {
            match out {
                ClientOutput::Open { attempt, .. } => {
                    assert!(
                        self.pending_open.is_none() && self.conn.is_none(),
                        "Open while a socket is alive"
                    );
                    self.pending_open = Some(*attempt);
                }
                ClientOutput::Transmit(frame) => {
                    let text = frame.as_text().expect("text frame");
                    self.server_receive(text);
                }
                ClientOutput::Close(_) => {
                    self.pending_open = None;
                    self.conn = None;
                }
                ClientOutput::Event(event) => {
                    if matches!(event, ClientEvent::Disconnected { .. }) {
                        assert_eq!(Some(i), last_event, "Disconnected is not the last event");
                    }
                    self.on_event(event);
                }
            }
        }
        self.log.extend(batch);
    }

    fn on_event(&mut self, event: &ClientEvent) {
        let ended = match event {
            ClientEvent::Response { id, .. } | ClientEvent::RequestFailed { id, .. } => id,
            ClientEvent::Connected { rooms, .. } => {
                let c = self.conn.as_ref().expect("Connected without a socket");
                let got: BTreeSet<String> = rooms.iter().map(|r| r.to_string()).collect();
                assert_eq!(
                    got, c.joined,
                    "Connected.rooms differs from the server's view"
                );
                let remembered: BTreeSet<String> =
                    self.client.rooms().map(|r| r.to_string()).collect();
                assert_eq!(got, remembered);
                return;
            }
            _ => return,
        };
        let key = ended.to_string();
        assert!(
            self.issued.contains(&key),
            "outcome for unknown request {key}"
        );
        *self.outcomes.entry(key).or_default() += 1;
    }

    /// The fake server: checks the configure order and queues answers.
    fn server_receive(&mut self, text: &str) {
        let Some(c) = &mut self.conn else {
            panic!("Transmit without an open socket: {text}");
        };
        assert!(self.pending_open.is_none());
        let frame = decode(text).expect("client frames are JSON");
        let req = match frame {
            ClientFrame::Pong(_) => return,
            ClientFrame::IdRequest => panic!("unexpected id request"),
            ClientFrame::Request(req) => req,
        };
        let id = req.message_id.clone().expect("client requests carry ids");
        let room_name = req.room.as_ref().and_then(Value::as_str).map(str::to_owned);
        // Configure order: rejoins of exactly the remembered rooms, then detailsView,
        // and nothing else until the detailsView is answered.
        if c.rejoined < c.expect_rejoin.len() {
            assert_eq!(req.verb, Verb::RoomAdd, "expected a rejoin, got {text}");
            assert_eq!(
                room_name.as_deref(),
                Some(c.expect_rejoin[c.rejoined].as_str()),
                "rejoin out of order"
            );
            c.rejoined += 1;
        } else if c.details_id.is_none() {
            assert_eq!(
                req.verb,
                Verb::DetailsView,
                "expected detailsView, got {text}"
            );
            c.details_id = Some(id.clone());
        } else {
            assert!(
                c.configured,
                "application frame before configure finished: {text}"
            );
        }
        let answer = match req.verb {
            Verb::RoomAdd => {
                let r = room_name.unwrap_or_default();
                if c.joined.contains(&r) {
                    verb_error(&format!("connection already in this room ({r})"), &id)
                } else if !self.existing.contains(&r) {
                    verb_error("room does not exist", &id)
                } else {
                    c.joined.insert(r);
                    reply::encode_verb_ok(Some(&json!(true)), &id)
                }
            }
            Verb::RoomLeave => {
                let r = room_name.unwrap_or_default();
                if !c.joined.remove(&r) {
                    verb_error(&format!("connection not in this room ({r})"), &id)
                } else {
                    reply::encode_verb_ok(Some(&json!(true)), &id)
                }
            }
            Verb::Say => {
                let r = room_name.unwrap_or_default();
                if c.joined.contains(&r) {
                    let chat = reply::say_payload(json!("hi"), &r, &c.id, 1_795_615_030_496);
                    c.answers.push(reply::encode_message(&chat, None));
                    reply::encode_verb_ok(None, &id)
                } else {
                    verb_error(&format!("connection not in this room ({r})"), &id)
                }
            }
            Verb::DetailsView => {
                let rooms: Vec<&String> = c.joined.iter().collect();
                let data = json!({"id": c.id, "fingerprint": c.id, "rooms": rooms});
                reply::encode_verb_ok(Some(&data), &id)
            }
            Verb::Action => {
                let mut fields = Map::new();
                fields.insert("randomNumber".into(), json!(0.5));
                reply::encode_action_response(&fields, None, &id)
            }
            other => panic!("unexpected verb {other:?}"),
        };
        c.answers.push(answer);
    }
}

fn verb_error(message: &str, id: &MessageId) -> String {
    reply::encode_verb_error(&format!("Error: {message}"), &json!({}), id)
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).expect("valid room")
}

/// The virtual-time origin (the only clock read).
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}
