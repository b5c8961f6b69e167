//! One connection's state machine: its one state enum and every transition that ends or
//! changes a connection (h11's rule: what affects transitions lives in this file).
//!
//! ```mermaid
//! stateDiagram-v2
//!     [*] --> Open: handle_open (welcome queued)
//!     Open --> Open: heartbeat tick while alive (ping sent, alive = false)
//!     Open --> Open: primus::pong or a WebSocket ping (alive = true)
//!     Open --> [*]: heartbeat tick while not alive (close, HeartbeatTimeout)
//!     Open --> [*]: quit, exit, close(Destroy) (primus::server::close, then close)
//!     Open --> [*]: close(SlowConsumer), queue over its limit, message too large, too many violations, handle_closed
//!     Open --> Draining: shutdown with requests pending
//!     Open --> [*]: shutdown with no request pending
//!     Draining --> [*]: last request answered, or the shutdown grace is over
//!     Draining --> [*]: handle_closed, queue over its limit, message too large, too many violations
//! ```
//!
//! `[*]` at the end is [`Server::end`]: the last frame (if any) is queued, the connection
//! leaves every room (leave hooks run), its pending requests are orphaned, its slot is
//! freed and [`Event::Disconnected`] is the last output that names it. A closed
//! connection has no state: its slot is empty and its handle stale.

use super::{DisconnectReason, Event, Output, RequestId, Server, Transmit, Violation};
use crate::frame::{Frame, Text};
use crate::ids::{ConnectionHandle, ConnectionId, Fingerprint, MessageId};
use crate::wire::primus;

/// The state of one live connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnState {
    /// Serving. `alive` is cleared by each heartbeat tick (which sends a ping) and set
    /// again by the peer's pong or WebSocket ping.
    Open { alive: bool },
    /// Shutdown started while requests were pending: no heartbeat, closes once they are
    /// answered.
    Draining,
}

/// What a heartbeat tick does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    /// Send a ping.
    Ping,
    /// No pong since the last tick: close it.
    Dead,
    /// Not heartbeating (draining).
    Skip,
}

impl ConnState {
    /// The peer showed it is alive (`primus::pong::…`, a WebSocket ping).
    fn on_liveness(&mut self) {
        if let Self::Open { alive } = self {
            *alive = true;
        }
    }

    fn on_tick(&mut self) -> Tick {
        match self {
            Self::Open { alive } if *alive => {
                *alive = false;
                Tick::Ping
            }
            Self::Open { .. } => Tick::Dead,
            Self::Draining => Tick::Skip,
        }
    }

    /// Shutdown started: a busy connection drains; returns true when it closes now.
    fn on_shutdown(&mut self, busy: bool) -> bool {
        if busy {
            *self = Self::Draining;
            false
        } else {
            true
        }
    }

    /// A request was answered: true when the connection should close now.
    fn on_request_done(self, idle: bool) -> bool {
        self == Self::Draining && idle
    }

    /// Every variant's diagram name (exhaustive, so a new variant must be named).
    #[cfg(test)]
    fn name(self) -> &'static str {
        match self {
            Self::Open { .. } => "Open",
            Self::Draining => "Draining",
        }
    }
}

/// One live connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) state: ConnState,
    pub(super) id: ConnectionId,
    pub(super) fingerprint: Fingerprint,
    pub(super) spark_id: String,
    pub(super) remote_ip: String,
    pub(super) remote_port: u16,
    /// Connect time, epoch ms.
    pub(super) connected_at: u64,
    pub(super) total_actions: u64,
    pub(super) pending_actions: u32,
    pub(super) pending_files: u32,
    /// Outstanding requests (actions and files), to orphan on close.
    pub(super) requests: Vec<RequestId>,
    /// Consecutive undecodable frames.
    pub(super) violations: u32,
    /// The last inbound messageId (stamped on [`Server::send`] messages).
    pub(super) last_message_id: Option<MessageId>,
    /// Frames queued in [`Server::poll_output`] and not drained yet.
    pub(super) queued: usize,
}

/// A connection slot; the generation makes old handles stale.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) generation: u32,
    pub(super) conn: Option<Conn>,
}

/// The close frame without a status code that Primus sends.
const PLAIN_CLOSE: Frame = Frame::Close {
    code: None,
    reason: "",
};

impl Server {
    /// The peer is alive.
    pub(super) fn liveness(&mut self, conn: ConnectionHandle) {
        if let Some(c) = self.conn_mut(conn) {
            c.state.on_liveness();
        }
    }

    /// The heartbeat tick: ping the live, close the silent, then close connections
    /// whose queue has grown past its limit.
    pub(super) fn heartbeat(&mut self, now_ms: u64) {
        let ping = Text::from(primus::encode_ping(now_ms));
        let mut dead = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(c) = &mut slot.conn else { continue };
            let h = ConnectionHandle::from_raw(i as u32, slot.generation);
            match c.state.on_tick() {
                Tick::Ping => {
                    c.queued += 1;
                    self.out.push_back(Output::Transmit(Transmit {
                        conn: h,
                        frame: Frame::Text(ping.clone()),
                    }));
                }
                Tick::Dead => dead.push(h),
                Tick::Skip => {}
            }
        }
        for h in dead {
            self.end(h, Some(PLAIN_CLOSE), DisconnectReason::HeartbeatTimeout);
        }
        let limit = self.config.max_outbound_queue_per_connection;
        let slow: Vec<ConnectionHandle> = self
            .handles()
            .into_iter()
            .filter(|h| self.conn(*h).is_some_and(|c| c.queued > limit))
            .collect();
        for h in slow {
            self.slow_consumer(h);
        }
    }

    /// Shutdown reached this connection: close it now, or let it drain.
    pub(super) fn shutdown_conn(&mut self, conn: ConnectionHandle) {
        let close_now = match self.conn_mut(conn) {
            Some(c) => {
                let busy = !c.requests.is_empty();
                c.state.on_shutdown(busy)
            }
            None => false,
        };
        if close_now {
            self.close_for_shutdown(conn);
        }
    }

    /// A request of `conn` was answered: a draining connection with nothing left closes.
    pub(super) fn after_request_done(&mut self, conn: ConnectionHandle) {
        let drained = self
            .conn(conn)
            .is_some_and(|c| c.state.on_request_done(c.requests.is_empty()));
        if drained {
            self.close_for_shutdown(conn);
            self.check_shutdown_complete();
        }
    }

    /// Actionhero's `connection.destroy()`: `primus::server::close`, close, teardown.
    pub(super) fn destroy(&mut self, conn: ConnectionHandle, reason: DisconnectReason) {
        if self.conn(conn).is_none() {
            return;
        }
        self.push_frame(conn, Frame::Text(Text::from(primus::SERVER_CLOSE)));
        self.end(conn, Some(PLAIN_CLOSE), reason);
    }

    /// Closes for shutdown: 1001 when clients may come back, else `destroy`.
    pub(super) fn close_for_shutdown(&mut self, conn: ConnectionHandle) {
        let reconnect = self.shutdown.is_some_and(|s| s.reconnect);
        if reconnect {
            let frame = Frame::Close {
                code: Some(1001),
                reason: "server shutting down",
            };
            self.end(conn, Some(frame), DisconnectReason::Shutdown);
        } else {
            self.destroy(conn, DisconnectReason::Shutdown);
        }
    }

    /// An undecodable frame: reported; too many in a row close the connection.
    pub(super) fn violation(&mut self, conn: ConnectionHandle, violation: Violation) {
        let max = self.config.max_consecutive_violations;
        let Some(c) = self.conn_mut(conn) else { return };
        c.violations += 1;
        let too_many = c.violations >= max;
        self.stats.violation(&violation);
        self.event(Event::ProtocolViolation { conn, violation });
        if too_many {
            let frame = Frame::Close {
                code: Some(1008),
                reason: "too many invalid frames",
            };
            self.end(conn, Some(frame), DisconnectReason::TooManyViolations);
        }
    }

    /// A message over `max_message_len`: reported, then the connection closes with 1009.
    pub(super) fn too_large(&mut self, conn: ConnectionHandle, len: usize) {
        let max = self.config.max_message_len;
        let violation = Violation::MessageTooLarge { len, max };
        self.stats.violation(&violation);
        self.event(Event::ProtocolViolation { conn, violation });
        let frame = crate::frame::CloseCause::MessageTooLarge.close_frame();
        self.end(conn, frame, DisconnectReason::MessageTooLarge);
    }

    /// More queued frames than allowed: close 1008.
    pub(super) fn slow_consumer(&mut self, conn: ConnectionHandle) {
        let frame = Frame::Close {
            code: Some(1008),
            reason: "slow consumer",
        };
        self.end(conn, Some(frame), DisconnectReason::SlowConsumer);
    }

    /// Ends a connection: optional last frame, leave every room (leave hooks run),
    /// orphan pending requests, free the slot, and `Disconnected` last.
    pub(super) fn end(
        &mut self,
        conn: ConnectionHandle,
        last_frame: Option<Frame>,
        reason: DisconnectReason,
    ) {
        if self.conn(conn).is_none() {
            return;
        }
        if let Some(f) = last_frame {
            self.push_frame(conn, f);
        }
        self.leave_all(conn);
        let slot = &mut self.slots[conn.index as usize];
        let Some(c) = slot.conn.take() else { return };
        // The top byte is the core's tag (`Server::set_handle_tag`); the rest counts.
        slot.generation =
            (slot.generation & 0xFF00_0000) | (slot.generation.wrapping_add(1) & 0x00FF_FFFF);
        self.free.push(conn.index);
        self.open -= 1;
        self.stats.closed(&reason);
        for r in c.requests {
            if let Some(p) = self.pending.get_mut(&r) {
                p.orphaned = true;
            }
        }
        self.event(Event::Disconnected { conn, reason });
        self.check_shutdown_complete();
    }

    /// After shutdown, reports [`Event::ShutdownComplete`] once the last connection is
    /// gone.
    pub(super) fn check_shutdown_complete(&mut self) {
        let Some(sd) = &mut self.shutdown else { return };
        if self.open == 0 && !sd.reported {
            sd.reported = true;
            sd.deadline = None;
            self.out.push_back(Output::Event(Event::ShutdownComplete));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_variant_is_in_the_diagram() {
        let source = include_str!("conn.rs");
        let diagram: String = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        for state in [ConnState::Open { alive: true }, ConnState::Draining] {
            let name = state.name();
            assert!(
                diagram.contains(&format!("--> {name}"))
                    && diagram.contains(&format!("{name} -->")),
                "{name} is not drawn as a target and a source"
            );
        }
    }

    #[test]
    fn transitions() {
        let mut s = ConnState::Open { alive: true };
        assert_eq!(s.on_tick(), Tick::Ping);
        assert_eq!(s, ConnState::Open { alive: false });
        assert_eq!(s.on_tick(), Tick::Dead);
        s.on_liveness();
        assert_eq!(s, ConnState::Open { alive: true });
        assert!(!s.on_request_done(true));
        assert!(s.on_shutdown(false));
        assert!(!s.on_shutdown(true));
        assert_eq!(s, ConnState::Draining);
        assert_eq!(s.on_tick(), Tick::Skip);
        s.on_liveness();
        assert_eq!(s, ConnState::Draining);
        assert!(!s.on_request_done(false));
        assert!(s.on_request_done(true));
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn handles_carry_the_cores_tag_across_slot_reuse() {
        use crate::handshake::Handshake;
        use crate::server::{CloseCause, ServerConfig};
        let t0 = std::time::Instant::now(); // virtual epoch
        let unix = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut s = Server::new(ServerConfig::default(), [1; 32], t0, unix).unwrap();
        s.set_handle_tag(3);
        let peer = "127.0.0.1:5000".parse().unwrap();
        let a = s.handle_open(Handshake::for_peer(peer, None), t0).unwrap();
        assert_eq!(a.tag(), 3);
        s.handle_closed(a, CloseCause::Remote { code: None }, t0);
        let b = s.handle_open(Handshake::for_peer(peer, None), t0).unwrap();
        assert_eq!(b.tag(), 3, "the reused slot keeps the tag");
        assert_ne!(a, b, "and the old handle is stale");
        assert!(s.connection(a).is_none());
        assert!(s.connection(b).is_some());
    }
}
