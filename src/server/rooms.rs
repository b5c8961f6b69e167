//! The room registry: room → members in join order, kept symmetric with each
//! connection's own room list (which the server keeps on the connection).

use std::collections::{BTreeMap, HashMap};

use crate::ids::{ConnectionHandle, RoomName};

#[derive(Debug, Default)]
pub(crate) struct Room {
    /// join sequence → (member, joinedAt ms): iteration is join order.
    by_seq: BTreeMap<u64, (ConnectionHandle, u64)>,
    /// member → join sequence.
    seq_of: HashMap<ConnectionHandle, u64>,
}

impl Room {
    pub(crate) fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Members with their join time, in join order.
    pub(crate) fn members(&self) -> impl Iterator<Item = (ConnectionHandle, u64)> + '_ {
        self.by_seq.values().copied()
    }
}

#[derive(Debug, Default)]
pub(crate) struct RoomRegistry {
    rooms: BTreeMap<RoomName, Room>,
    next_seq: u64,
}

impl RoomRegistry {
    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    pub(crate) fn exists(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    pub(crate) fn get(&self, room: &str) -> Option<&Room> {
        self.rooms.get(room)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.keys()
    }

    /// Creates a room; false if it already exists.
    pub(crate) fn create(&mut self, room: RoomName) -> bool {
        if self.rooms.contains_key(&room) {
            return false;
        }
        self.rooms.insert(room, Room::default());
        true
    }

    /// Removes a room, returning its members in join order.
    pub(crate) fn destroy(&mut self, room: &str) -> Option<Vec<ConnectionHandle>> {
        let r = self.rooms.remove(room)?;
        Some(r.by_seq.into_values().map(|(c, _)| c).collect())
    }

    /// Adds a member; false if the room is missing or already has it.
    pub(crate) fn add(&mut self, room: &str, conn: ConnectionHandle, joined_at: u64) -> bool {
        let Some(r) = self.rooms.get_mut(room) else {
            return false;
        };
        if r.seq_of.contains_key(&conn) {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        r.by_seq.insert(seq, (conn, joined_at));
        r.seq_of.insert(conn, seq);
        true
    }

    /// Removes a member; false if it was not there.
    pub(crate) fn remove(&mut self, room: &str, conn: ConnectionHandle) -> bool {
        let Some(r) = self.rooms.get_mut(room) else {
            return false;
        };
        let Some(seq) = r.seq_of.remove(&conn) else {
            return false;
        };
        r.by_seq.remove(&seq);
        true
    }
}
