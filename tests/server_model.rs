//! Property test: random operation sequences against the server, checked against a
//! simple reference model after every step (docs/architecture.md#property-models).

#[path = "support/cases.rs"]
mod cases;
mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actionhero_ws::server::{ActionOutcome, DisconnectReason, Event, ServerConfig};
use actionhero_ws::{ConnectionHandle, Frame, RoomName};
use proptest::prelude::*;
use serde_json::{Map, Value};
use sim::Sim;

const ROOMS: [&str; 3] = ["r0", "r1", "r2"];
const INTERVAL_MS: u64 = 1000;

#[derive(Clone, Debug)]
enum Op {
    Open,
    Close(usize),
    Garbage(usize, Vec<u8>),
    RoomAdd(usize, usize),
    RoomLeave(usize, usize),
    Say(usize, usize, String),
    Action(usize),
    Respond(usize),
    CreateRoom(usize),
    DestroyRoom(usize),
    Idle(u64),
    StopPonging(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Open),
        1 => any::<usize>().prop_map(Op::Close),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..24)).prop_map(|(k, b)| Op::Garbage(k, b)),
        3 => (any::<usize>(), 0..ROOMS.len()).prop_map(|(k, r)| Op::RoomAdd(k, r)),
        2 => (any::<usize>(), 0..ROOMS.len()).prop_map(|(k, r)| Op::RoomLeave(k, r)),
        2 => (any::<usize>(), 0..ROOMS.len(), "[a-z \u{2028}]{0,8}").prop_map(|(k, r, m)| Op::Say(k, r, m)),
        3 => any::<usize>().prop_map(Op::Action),
        3 => any::<usize>().prop_map(Op::Respond),
        1 => (0..ROOMS.len()).prop_map(Op::CreateRoom),
        1 => (0..ROOMS.len()).prop_map(Op::DestroyRoom),
        2 => (0u64..2500).prop_map(Op::Idle),
        1 => any::<usize>().prop_map(Op::StopPonging),
    ]
}

#[derive(Default)]
struct Model {
    rooms: BTreeSet<usize>,
    conns: BTreeMap<ConnectionHandle, Peer>,
}

#[derive(Default)]
struct Peer {
    rooms: BTreeSet<usize>,
    ponging: bool,
    /// messageIds of action requests sent → frames answering them so far.
    actions: BTreeMap<u64, usize>,
}

struct Run {
    sim: Sim,
    model: Model,
    next_id: u64,
    /// Action requests waiting for the application, oldest first.
    outstanding: Vec<actionhero_ws::server::RequestId>,
    log: Vec<String>,
}

impl Run {
    fn new(seed: u8) -> Self {
        let config = ServerConfig {
            ping_interval: Some(Duration::from_millis(INTERVAL_MS)),
            max_rooms_per_connection: 2,
            ..ServerConfig::default()
        };
        let mut sim = Sim::with_seed(config, [seed; 32]);
        sim.manual_actions = true;
        sim.rooms(&[ROOMS[0]]);
        let mut model = Model::default();
        model.rooms.insert(0);
        Self {
            sim,
            model,
            next_id: 1,
            outstanding: Vec::new(),
            log: Vec::new(),
        }
    }

    fn pick(&self, k: usize) -> Option<ConnectionHandle> {
        let live: Vec<ConnectionHandle> = self.model.conns.keys().copied().collect();
        (!live.is_empty()).then(|| live[k % live.len()])
    }

    fn apply(&mut self, op: &Op) {
        match op.clone() {
            Op::Open => {
                let h = self.sim.open(None);
                self.model.conns.insert(
                    h,
                    Peer {
                        ponging: true,
                        ..Peer::default()
                    },
                );
            }
            Op::Close(k) => {
                if let Some(h) = self.pick(k) {
                    self.sim.close(h);
                    self.model.conns.remove(&h);
                }
            }
            Op::Garbage(k, bytes) => {
                if let Some(h) = self.pick(k) {
                    match std::str::from_utf8(&bytes) {
                        Ok(t) => self.sim.send(h, t),
                        Err(_) => self.sim.send_binary(h, &bytes),
                    }
                }
            }
            Op::RoomAdd(k, r) => {
                if let Some(h) = self.pick(k) {
                    self.sim.send(
                        h,
                        &format!(r#"{{"event":"roomAdd","room":"{}"}}"#, ROOMS[r]),
                    );
                    let exists = self.model.rooms.contains(&r);
                    let p = self.model.conns.get_mut(&h).unwrap();
                    if exists && !p.rooms.contains(&r) && p.rooms.len() < 2 {
                        p.rooms.insert(r);
                    }
                }
            }
            Op::RoomLeave(k, r) => {
                if let Some(h) = self.pick(k) {
                    self.sim.send(
                        h,
                        &format!(r#"{{"event":"roomLeave","room":"{}"}}"#, ROOMS[r]),
                    );
                    self.model.conns.get_mut(&h).unwrap().rooms.remove(&r);
                }
            }
            Op::Say(k, r, m) => {
                if let Some(h) = self.pick(k) {
                    let msg = serde_json::to_string(&m).unwrap();
                    self.sim.send(
                        h,
                        &format!(r#"{{"event":"say","room":"{}","message":{msg}}}"#, ROOMS[r]),
                    );
                }
            }
            Op::Action(k) => {
                if let Some(h) = self.pick(k) {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.sim.send(h, &format!(r#"{{"event":"action","params":{{"action":"randomNumber"}},"messageId":{id}}}"#));
                    self.model.conns.get_mut(&h).unwrap().actions.insert(id, 0);
                    self.outstanding
                        .extend(self.sim.requested.drain(..).map(|(_, r, _)| r));
                }
            }
            Op::Respond(i) => {
                if !self.outstanding.is_empty() {
                    let req = self.outstanding.remove(i % self.outstanding.len());
                    let now = self.sim.now;
                    let mut m = Map::new();
                    m.insert("ok".into(), Value::Bool(true));
                    self.sim
                        .server
                        .respond(req, ActionOutcome::Ok(m), now)
                        .unwrap();
                    self.sim.drain();
                }
            }
            Op::CreateRoom(r) => {
                let created = self
                    .sim
                    .server
                    .create_room(RoomName::new(ROOMS[r]).unwrap())
                    .is_ok();
                assert_eq!(created, self.model.rooms.insert(r));
                self.sim.drain();
            }
            Op::DestroyRoom(r) => {
                let now = self.sim.now;
                let ok = self
                    .sim
                    .server
                    .destroy_room(&RoomName::new(ROOMS[r]).unwrap(), now)
                    .is_ok();
                assert_eq!(ok, self.model.rooms.remove(&r));
                for p in self.model.conns.values_mut() {
                    p.rooms.remove(&r);
                }
                self.sim.drain();
            }
            Op::Idle(ms) => {
                // Step in small increments so ponging peers answer each ping in time.
                let mut left = ms;
                while left > 0 {
                    let d = left.min(100);
                    self.sim.advance(Duration::from_millis(d));
                    left -= d;
                    self.read_inboxes();
                }
            }
            Op::StopPonging(k) => {
                if let Some(h) = self.pick(k) {
                    self.model.conns.get_mut(&h).unwrap().ponging = false;
                }
            }
        }
        self.read_inboxes();
        self.sync_heartbeat_deaths();
        self.check();
    }

    /// Reads every frame: answers pings for ponging peers, counts action answers.
    fn read_inboxes(&mut self) {
        let handles: Vec<ConnectionHandle> = self.sim.inbox.keys().copied().collect();
        for h in handles {
            while let Some(f) = self.sim.recv(h) {
                let text = match &f {
                    Frame::Text(t) => t.to_string(),
                    Frame::Close { code, reason } => format!("<close {code:?} {reason}>"),
                };
                self.log.push(format!("{h} {text}"));
                if let Some(v) = text.strip_prefix("\"primus::ping::") {
                    let ponging = self.model.conns.get(&h).is_some_and(|p| p.ponging);
                    if ponging {
                        self.sim.send(h, &format!("\"primus::pong::{}", v));
                    }
                    continue;
                }
                let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let is_action_answer =
                    !m.contains_key("status") && m.get("context") == Some(&Value::from("response"));
                if let (true, Some(id)) =
                    (is_action_answer, m.get("messageId").and_then(Value::as_u64))
                {
                    if let Some(p) = self.model.conns.get_mut(&h) {
                        *p.actions.entry(id).or_default() += 1;
                    }
                }
            }
        }
    }

    fn sync_heartbeat_deaths(&mut self) {
        for e in &self.sim.events {
            if let Event::Disconnected { conn, reason } = e {
                if let Some(p) = self.model.conns.get(conn) {
                    assert!(
                        !p.ponging || !matches!(reason, DisconnectReason::HeartbeatTimeout),
                        "a ponging peer was killed by the heartbeat"
                    );
                    self.model.conns.remove(conn);
                }
            }
        }
    }

    fn check(&self) {
        let s = &self.sim.server;
        assert_eq!(s.len(), self.model.conns.len());
        for (h, p) in &self.model.conns {
            let view = s.connection(*h).expect("model conn is live");
            let rooms: BTreeSet<usize> = view
                .rooms
                .iter()
                .map(|r| ROOMS.iter().position(|x| *x == r.as_str()).unwrap())
                .collect();
            assert_eq!(rooms, p.rooms, "rooms of {h}");
            for (id, n) in &p.actions {
                assert!(*n <= 1, "action {id} answered {n} times");
            }
        }
        // Symmetry between the room index and each connection's list.
        for (i, name) in ROOMS.iter().enumerate() {
            let members: BTreeSet<ConnectionHandle> = s.members(name).into_iter().collect();
            let expected: BTreeSet<ConnectionHandle> = self
                .model
                .conns
                .iter()
                .filter(|(_, p)| p.rooms.contains(&i))
                .map(|(h, _)| *h)
                .collect();
            assert_eq!(members, expected, "members of {name}");
        }
    }

    /// Answers everything still outstanding; then every action of a live connection has
    /// exactly one answer.
    fn finish(&mut self) {
        let now = self.sim.now;
        for req in std::mem::take(&mut self.outstanding) {
            let _ = self
                .sim
                .server
                .respond(req, ActionOutcome::error("late"), now);
        }
        self.sim.drain();
        self.read_inboxes();
        for (h, p) in &self.model.conns {
            for (id, n) in &p.actions {
                assert_eq!(*n, 1, "action {id} on {h} answered {n} times");
            }
        }
    }
}

proptest! {
    // 96 cases for CI; PROPTEST_CASES sets another count.
    #![proptest_config(cases::config(96))]

    #[test]
    fn server_matches_model(ops in proptest::collection::vec(op(), 1..60), seed in any::<u8>()) {
        let mut run = Run::new(seed);
        for op in &ops {
            run.apply(op);
        }
        run.finish();
        // Determinism: same seed, same ops, same bytes out.
        let mut again = Run::new(seed);
        for op in &ops {
            again.apply(op);
        }
        again.finish();
        prop_assert_eq!(&run.log, &again.log);
    }
}

#[test]
fn silent_peer_is_closed_within_two_intervals() {
    let mut run = Run::new(1);
    run.apply(&Op::Open);
    run.apply(&Op::Open);
    run.apply(&Op::StopPonging(0));
    let silent = run.pick(0).unwrap();
    run.apply(&Op::Idle(2 * INTERVAL_MS + 1));
    assert!(run.sim.server.connection(silent).is_none());
    assert_eq!(run.sim.server.len(), 1);
}
