//! The simulation harness (docs/architecture.md#simulation): one `Server`, in-memory
//! peers that speak raw frames, the Actionhero sample actions as the application, a
//! virtual clock. No sockets, no sleeps.
#![allow(dead_code, clippy::disallowed_methods)] // one real Instant is the virtual epoch

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use actionhero_ws::handshake::Handshake;
use actionhero_ws::samples::{self, SampleDone, SampleEffect, SampleRun, Samples, StatusFigures};
use actionhero_ws::server::{
    ActionOutcome, CloseCause, Event, FileOutcome, Output, RequestId, Server, ServerConfig,
};
use actionhero_ws::{ConnectionHandle, Frame, RoomName};
use serde_json::Value;

/// Wall-clock time at the simulation's start.
pub(crate) const EPOCH_MS: u64 = 1_795_615_000_000;

/// A scheduled application completion.
#[derive(Debug)]
enum Job {
    Action(RequestId, ActionOutcome),
}

/// Server + peers + virtual clock.
pub(crate) struct Sim {
    pub(crate) server: Server,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    /// Frames received per connection, oldest first.
    pub(crate) inbox: BTreeMap<ConnectionHandle, VecDeque<Frame>>,
    /// Every event the server emitted, in order.
    pub(crate) events: Vec<Event>,
    /// HTTP answers to web requests, in order.
    pub(crate) http: Vec<actionhero_ws::server::HttpTransmit>,
    /// Handles that got `Disconnected`.
    pub(crate) gone: Vec<ConnectionHandle>,
    /// Files of the virtual public directory.
    pub(crate) files: BTreeMap<String, String>,
    /// When true, actions are not answered by the sample app (tests answer them).
    pub(crate) manual_actions: bool,
    /// Action requests seen and not answered yet (manual mode).
    pub(crate) requested: Vec<(ConnectionHandle, RequestId, String)>,
    samples: Samples,
    jobs: BTreeMap<(Instant, u64), Job>,
    job_seq: u64,
    next_port: u16,
}

impl Sim {
    pub(crate) fn new(config: ServerConfig) -> Self {
        Self::with_seed(config, [7; 32])
    }

    pub(crate) fn with_seed(config: ServerConfig, seed: [u8; 32]) -> Self {
        let start = Instant::now();
        let unix = UNIX_EPOCH + Duration::from_millis(EPOCH_MS);
        let mut server = Server::new(config, seed, start, unix).expect("config");
        for spec in samples::specs() {
            server.register_action(spec);
        }
        Self {
            server,
            start,
            now: start,
            inbox: BTreeMap::new(),
            events: Vec::new(),
            http: Vec::new(),
            gone: Vec::new(),
            files: BTreeMap::new(),
            manual_actions: false,
            requested: Vec::new(),
            samples: Samples::new(seed),
            jobs: BTreeMap::new(),
            job_seq: 0,
            next_port: 40_000,
        }
    }

    /// Creates rooms.
    pub(crate) fn rooms(&mut self, names: &[&str]) {
        for n in names {
            self.server
                .create_room(RoomName::new(n).unwrap())
                .expect("room");
        }
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.now.duration_since(self.start).as_millis() as u64
    }

    /// Opens a connection from 127.0.0.1.
    pub(crate) fn open(&mut self, fingerprint: Option<&str>) -> ConnectionHandle {
        self.next_port += 1;
        let peer: SocketAddr = format!("127.0.0.1:{}", self.next_port).parse().unwrap();
        let h = self
            .server
            .handle_open(
                Handshake::for_peer(peer, fingerprint.map(str::to_string)),
                self.now,
            )
            .expect("open");
        self.inbox.entry(h).or_default();
        self.drain();
        h
    }

    pub(crate) fn send(&mut self, h: ConnectionHandle, text: &str) {
        self.server.handle_text(h, text, self.now);
        self.drain();
        self.settle();
    }

    pub(crate) fn send_binary(&mut self, h: ConnectionHandle, data: &[u8]) {
        self.server.handle_binary(h, data, self.now);
        self.drain();
    }

    /// The peer closes its socket.
    pub(crate) fn close(&mut self, h: ConnectionHandle) {
        self.server
            .handle_closed(h, CloseCause::Remote { code: Some(1000) }, self.now);
        self.drain();
    }

    /// Takes the oldest frame received on `h`.
    pub(crate) fn recv(&mut self, h: ConnectionHandle) -> Option<Frame> {
        self.inbox.get_mut(&h)?.pop_front()
    }

    /// Takes the oldest frame on `h`, advancing time (up to `max`) until one arrives.
    pub(crate) fn recv_within(&mut self, h: ConnectionHandle, max: Duration) -> Option<Frame> {
        let deadline = self.now + max;
        loop {
            if let Some(f) = self.recv(h) {
                return Some(f);
            }
            if !self.step_until(deadline) {
                return self.recv(h);
            }
        }
    }

    /// All texts received on `h` so far (drained).
    pub(crate) fn texts(&mut self, h: ConnectionHandle) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(f) = self.recv(h) {
            match f {
                Frame::Text(t) => out.push(t.to_string()),
                Frame::Close { code, reason } => out.push(format!("<close {code:?} {reason}>")),
            }
        }
        out
    }

    /// Advances virtual time by `d`, firing every timer and job on the way.
    pub(crate) fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step_until(until) {}
        self.now = until;
        self.server.handle_timeout(self.now);
        self.drain();
    }

    /// Moves to the next due timer or job not after `until`; false if none.
    fn step_until(&mut self, until: Instant) -> bool {
        let server_t = self.server.poll_timeout();
        let job_t = self.jobs.keys().next().map(|(t, _)| *t);
        let next = match (server_t, job_t) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > until {
            return false;
        }
        self.now = self.now.max(next);
        self.server.handle_timeout(self.now);
        let due: Vec<(Instant, u64)> = self
            .jobs
            .range(..=(self.now, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            if let Some(Job::Action(req, outcome)) = self.jobs.remove(&k) {
                let _ = self.server.respond(req, outcome, self.now);
            }
        }
        self.drain();
        true
    }

    fn epoch_ms(&self) -> u64 {
        EPOCH_MS + self.elapsed_ms()
    }

    /// Drains every output, routing frames to inboxes and running the application.
    pub(crate) fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            match out {
                Output::Transmit(t) => {
                    assert!(
                        !self.gone.contains(&t.conn),
                        "transmit after Disconnected for {:?}",
                        t.conn
                    );
                    self.inbox.entry(t.conn).or_default().push_back(t.frame);
                }
                Output::Event(e) => {
                    self.on_event(&e);
                    self.events.push(e);
                }
                Output::Http(h) => self.http.push(h),
            }
        }
        if let Some(t) = self.server.poll_timeout() {
            assert!(t > self.now, "poll_timeout in the past after a drain");
        }
    }

    /// Runs a sample action as the application would, answering on a later step.
    fn run_sample(
        &mut self,
        request: actionhero_ws::server::RequestId,
        action: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) {
        let now_ms = self.epoch_ms();
        let outcome = match self.samples.run(action, params, now_ms) {
            SampleRun::Done(o) => o,
            SampleRun::Wait(wait) => match wait.effect().clone() {
                SampleEffect::Sleep(d) => {
                    let at = self.now + d;
                    let ended_ms = now_ms + u64::try_from(d.as_millis()).unwrap();
                    let o = wait.finish(SampleDone::Slept, ended_ms);
                    self.job_seq += 1;
                    self.jobs
                        .insert((at, self.job_seq), Job::Action(request, o));
                    return;
                }
                SampleEffect::CreateRoom(room) => {
                    let did = self.server.create_room(room).is_ok();
                    wait.finish(SampleDone::RoomCreated(did), now_ms)
                }
                SampleEffect::Status => {
                    let figures = StatusFigures {
                        id: "sim".into(),
                        uptime_ms: self.elapsed_ms(),
                        consumed_memory_mb: 1.0,
                    };
                    wait.finish(SampleDone::Status(figures), now_ms)
                }
            },
        };
        // Respond on the next step, as an async application would.
        self.job_seq += 1;
        self.jobs
            .insert((self.now, self.job_seq), Job::Action(request, outcome));
    }

    fn on_event(&mut self, e: &Event) {
        match e {
            Event::ActionRequested {
                conn,
                request,
                action,
                params,
                ..
            } => {
                if self.manual_actions {
                    self.requested.push((*conn, *request, action.clone()));
                    return;
                }
                self.run_sample(*request, action, params);
            }
            Event::WebActionRequested {
                request,
                action,
                params,
                ..
            } => self.run_sample(*request, action, params),
            Event::FileRequested { request, file, .. } => {
                let outcome = match self.files.get(file) {
                    Some(content) => FileOutcome::Found {
                        content: content.clone(),
                        mime: Some("text/html".into()),
                        length: content.len() as u64,
                        last_modified_ms: EPOCH_MS,
                    },
                    None => FileOutcome::NotFound,
                };
                let _ = self.server.complete_file(*request, outcome, self.now);
            }
            Event::Disconnected { conn, .. } => self.gone.push(*conn),
            _ => {}
        }
    }

    /// Runs queued application jobs due now.
    pub(crate) fn settle(&mut self) {
        for _ in 0..1000 {
            if !self.step_until(self.now) {
                break;
            }
        }
    }
}

/// Parses a frame's text as JSON.
pub(crate) fn json(f: &Frame) -> Value {
    serde_json::from_str(f.as_text().expect("text frame")).expect("json")
}
