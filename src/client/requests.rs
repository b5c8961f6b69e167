//! The application's outstanding requests: queued (not yet sent) or in flight.
//!
//! Every request issued by the application is in this table until it ends in exactly
//! one outcome: a response, or a failure (deadline, connection lost, dropped from the
//! offline queue, client closed). Keys are ActionheroWebsocketClient's callback keys
//! ([`MessageId::callback_key`]), so `5` and `"5"` name the same request, as in the
//! real client. All maps are ordered, so draining is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::ids::{MessageId, RoomName};
use crate::wire::ClientRequest;

/// What a successful response changes in the remembered room set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    None,
    RoomAdd(RoomName),
    RoomLeave(RoomName),
}

/// One outstanding request.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub(super) id: MessageId,
    pub(super) deadline: Instant,
    pub(super) request: ClientRequest,
    pub(super) effect: Effect,
    /// False while the request waits in the offline queue.
    pub(super) sent: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Requests {
    /// Issue order → request.
    entries: BTreeMap<u64, Entry>,
    /// Callback key → issue order.
    by_key: BTreeMap<String, u64>,
    /// (deadline, issue order), for the earliest deadline.
    deadlines: BTreeSet<(Instant, u64)>,
    /// Issue order of the queued (unsent) requests: the offline queue, oldest first.
    queued: BTreeSet<u64>,
    next_seq: u64,
}

impl Requests {
    /// Outstanding requests, queued and in flight.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Requests in the offline queue.
    pub(super) fn queued_len(&self) -> usize {
        self.queued.len()
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Adds a request; the caller checked that its key is free.
    pub(super) fn insert(&mut self, entry: Entry) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_key.insert(entry.id.callback_key(), seq);
        self.deadlines.insert((entry.deadline, seq));
        if !entry.sent {
            self.queued.insert(seq);
        }
        self.entries.insert(seq, entry);
    }

    /// Removes and returns the oldest queued request.
    pub(super) fn pop_oldest_queued(&mut self) -> Option<Entry> {
        let seq = self.queued.first().copied()?;
        self.remove(seq)
    }

    /// Marks every queued request sent and returns their frames' requests, oldest first.
    pub(super) fn send_queued(&mut self) -> Vec<ClientRequest> {
        let queued = std::mem::take(&mut self.queued);
        let mut out = Vec::with_capacity(queued.len());
        for seq in queued {
            if let Some(entry) = self.entries.get_mut(&seq) {
                entry.sent = true;
                out.push(entry.request.clone());
            }
        }
        out
    }

    /// Removes the in-flight request answered under `key`. A queued request is never
    /// matched: the server cannot be answering something it was not sent.
    pub(super) fn take_sent(&mut self, key: &str) -> Option<Entry> {
        let seq = *self.by_key.get(key)?;
        if self.queued.contains(&seq) {
            return None;
        }
        self.remove(seq)
    }

    /// The earliest deadline of any outstanding request.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Removes and returns one request whose deadline is at or before `now`, earliest
    /// first.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<Entry> {
        let (at, seq) = *self.deadlines.first()?;
        if at > now {
            return None;
        }
        self.remove(seq)
    }

    /// Removes every in-flight request, in issue order; queued ones stay.
    pub(super) fn drain_sent(&mut self) -> Vec<Entry> {
        let sent: Vec<u64> = self
            .entries
            .keys()
            .copied()
            .filter(|seq| !self.queued.contains(seq))
            .collect();
        sent.into_iter()
            .filter_map(|seq| self.remove(seq))
            .collect()
    }

    /// Removes every request, in issue order.
    pub(super) fn drain_all(&mut self) -> Vec<Entry> {
        let all: Vec<u64> = self.entries.keys().copied().collect();
        all.into_iter().filter_map(|seq| self.remove(seq)).collect()
    }

    fn remove(&mut self, seq: u64) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        self.by_key.remove(&entry.id.callback_key());
        self.deadlines.remove(&(entry.deadline, seq));
        self.queued.remove(&seq);
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(id: u64, deadline: Instant, sent: bool) -> Entry {
        Entry {
            id: MessageId::Number(id),
            deadline,
            request: ClientRequest::DetailsView {
                message_id: MessageId::Number(id),
            },
            effect: Effect::None,
            sent,
        }
    }

    #[test]
    fn queue_is_fifo_and_flush_marks_sent() {
        let t0 = epoch();
        let mut r = Requests::default();
        r.insert(entry(1, t0, false));
        r.insert(entry(2, t0, true));
        r.insert(entry(3, t0, false));
        assert_eq!((r.len(), r.queued_len()), (3, 2));
        // A queued request is never matched by a response.
        assert!(r.take_sent("1").is_none());
        assert_eq!(r.pop_oldest_queued().map(|e| e.id), Some(1.into()));
        let sent = r.send_queued();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message_id(), &MessageId::Number(3));
        assert_eq!(r.queued_len(), 0);
        assert_eq!(r.take_sent("3").map(|e| e.id), Some(3.into()));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn deadlines_expire_in_order_and_keys_collide_like_javascript() {
        let t0 = epoch();
        let mut r = Requests::default();
        r.insert(entry(2, t0 + Duration::from_secs(2), true));
        r.insert(entry(1, t0 + Duration::from_secs(1), false));
        assert!(r.contains_key("2"));
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(r.pop_expired(t0).is_none());
        let late = t0 + Duration::from_secs(5);
        assert_eq!(r.pop_expired(late).map(|e| e.id), Some(1.into()));
        assert_eq!(r.queued_len(), 0);
        assert_eq!(r.pop_expired(late).map(|e| e.id), Some(2.into()));
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn drain_sent_keeps_the_queue() {
        let t0 = epoch();
        let mut r = Requests::default();
        r.insert(entry(1, t0, true));
        r.insert(entry(2, t0, false));
        r.insert(entry(3, t0, true));
        let ids: Vec<_> = r.drain_sent().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![1.into(), 3.into()]);
        assert_eq!((r.len(), r.queued_len()), (1, 1));
        assert_eq!(r.drain_all().len(), 1);
        assert_eq!(r.len(), 0);
    }

    /// The virtual-time origin of a test (the only clock read, docs/architecture.md#time).
    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now() // virtual epoch
    }
}
