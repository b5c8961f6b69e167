//! The client's timers: one small fixed table (docs/architecture.md#time). Request
//! deadlines live in the request table, which reports its earliest one.

use std::time::Instant;

/// Why the client wants [`Client::handle_timeout`](super::Client::handle_timeout) called;
/// see [`Client::timeout_reason`](super::Client::timeout_reason).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TimerKind {
    /// The current connect attempt (socket open plus configure) must finish by then.
    Connect,
    /// No `primus::ping::` arrived within the ping timeout: the connection is dead.
    Heartbeat,
    /// The backoff delay before the next reconnect attempt ends.
    Reconnect,
    /// The earliest request deadline.
    Request,
}

/// The table-held timers, in the order they fire when due at the same instant.
const TABLE: [TimerKind; 3] = [
    TimerKind::Connect,
    TimerKind::Heartbeat,
    TimerKind::Reconnect,
];

#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    slots: [Option<Instant>; 3],
}

impl Timers {
    pub(super) fn set(&mut self, kind: TimerKind, at: Instant) {
        if let Some(slot) = self.slot(kind) {
            *slot = Some(at);
        }
    }

    pub(super) fn clear(&mut self, kind: TimerKind) {
        if let Some(slot) = self.slot(kind) {
            *slot = None;
        }
    }

    pub(super) fn clear_all(&mut self) {
        self.slots = [None; 3];
    }

    #[cfg(test)]
    pub(super) fn get(&self, kind: TimerKind) -> Option<Instant> {
        let i = TABLE.iter().position(|k| *k == kind)?;
        self.slots[i]
    }

    /// The earliest armed timer (ties go to the earlier kind in [`TABLE`]).
    pub(super) fn next(&self) -> Option<(Instant, TimerKind)> {
        let mut best: Option<(Instant, TimerKind)> = None;
        for (slot, kind) in self.slots.iter().zip(TABLE) {
            if let Some(at) = *slot {
                match best {
                    Some((b, _)) if b <= at => {}
                    _ => best = Some((at, kind)),
                }
            }
        }
        best
    }

    fn slot(&mut self, kind: TimerKind) -> Option<&mut Option<Instant>> {
        let i = TABLE.iter().position(|k| *k == kind)?;
        self.slots.get_mut(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_minimum_and_ties_follow_table_order() {
        let t0 = epoch();
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(TimerKind::Reconnect, t0 + Duration::from_secs(1));
        t.set(TimerKind::Heartbeat, t0 + Duration::from_secs(1));
        assert_eq!(
            t.next(),
            Some((t0 + Duration::from_secs(1), TimerKind::Heartbeat))
        );
        t.set(TimerKind::Connect, t0);
        assert_eq!(t.next(), Some((t0, TimerKind::Connect)));
        t.clear(TimerKind::Connect);
        t.clear(TimerKind::Heartbeat);
        assert_eq!(
            t.get(TimerKind::Reconnect),
            Some(t0 + Duration::from_secs(1))
        );
        // Request deadlines are not held here.
        t.set(TimerKind::Request, t0);
        assert_eq!(t.get(TimerKind::Request), None);
        t.clear_all();
        assert_eq!(t.next(), None);
    }

    /// The virtual-time origin of a test (the only clock read, docs/architecture.md#time).
    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now() // virtual epoch
    }
}
