//! The room registry: the one place room membership is stored, in both directions
//! (room → members in join order, connection → rooms in join order).
//!
//! Every change is an explicit operation ([`RoomRegistry::join`], [`RoomRegistry::leave`],
//! [`RoomRegistry::remove_connection`], …) that says what changed, and every query is a
//! method: nothing outside this file touches the maps. That is the boundary a registry
//! shared across workers or nodes will sit behind (see docs/architecture.md#server).

use std::collections::{BTreeMap, HashMap};

use super::RoomError;
use crate::ids::{ConnectionHandle, RoomName};

#[derive(Debug, Default)]
struct Room {
    /// join sequence → (member, joinedAt ms): iteration is join order.
    by_seq: BTreeMap<u64, (ConnectionHandle, u64)>,
    /// member → join sequence.
    seq_of: HashMap<ConnectionHandle, u64>,
}

/// Rooms and their members.
#[derive(Debug, Default)]
pub(crate) struct RoomRegistry {
    rooms: BTreeMap<RoomName, Room>,
    /// connection → the rooms it is in, in join order (no entry when in none).
    of_conn: HashMap<ConnectionHandle, Vec<RoomName>>,
    next_seq: u64,
}

impl RoomRegistry {
    /// Number of rooms.
    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    /// True if the room exists.
    pub(crate) fn exists(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// Every room, sorted by name.
    pub(crate) fn names(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.keys()
    }

    /// Members of `room` with their join time (epoch ms), in join order; `None` for a
    /// missing room.
    pub(crate) fn members(
        &self,
        room: &str,
    ) -> Option<impl ExactSizeIterator<Item = (ConnectionHandle, u64)> + '_> {
        Some(self.rooms.get(room)?.by_seq.values().copied())
    }

    /// The rooms `conn` is in, in join order.
    pub(crate) fn rooms_of(&self, conn: ConnectionHandle) -> &[RoomName] {
        self.of_conn.get(&conn).map_or(&[], Vec::as_slice)
    }

    /// True if `conn` is a member of `room`.
    pub(crate) fn is_member(&self, conn: ConnectionHandle, room: &str) -> bool {
        self.rooms_of(conn).iter().any(|r| r.as_str() == room)
    }

    /// Creates a room.
    pub(crate) fn create(&mut self, room: RoomName) -> Result<(), RoomError> {
        if self.rooms.contains_key(&room) {
            return Err(RoomError::AlreadyExists);
        }
        self.rooms.insert(room, Room::default());
        Ok(())
    }

    /// Removes a room; returns its former members in join order.
    pub(crate) fn destroy(&mut self, room: &str) -> Result<Vec<ConnectionHandle>, RoomError> {
        let r = self.rooms.remove(room).ok_or(RoomError::NotFound)?;
        let members: Vec<ConnectionHandle> = r.by_seq.into_values().map(|(c, _)| c).collect();
        for conn in &members {
            self.forget(*conn, room);
        }
        Ok(members)
    }

    /// Adds `conn` to `room` at `joined_at` (epoch ms).
    pub(crate) fn join(
        &mut self,
        room: &RoomName,
        conn: ConnectionHandle,
        joined_at: u64,
    ) -> Result<(), RoomError> {
        let r = self
            .rooms
            .get_mut(room.as_str())
            .ok_or(RoomError::NotFound)?;
        if r.seq_of.contains_key(&conn) {
            return Err(RoomError::AlreadyMember);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        r.by_seq.insert(seq, (conn, joined_at));
        r.seq_of.insert(conn, seq);
        self.of_conn.entry(conn).or_default().push(room.clone());
        Ok(())
    }

    /// Removes `conn` from `room`; returns the room's name.
    pub(crate) fn leave(
        &mut self,
        room: &str,
        conn: ConnectionHandle,
    ) -> Result<RoomName, RoomError> {
        let r = self.rooms.get_mut(room).ok_or(RoomError::NotFound)?;
        let seq = r.seq_of.remove(&conn).ok_or(RoomError::NotMember)?;
        r.by_seq.remove(&seq);
        self.forget(conn, room).ok_or(RoomError::NotMember)
    }

    /// Removes `conn` from every room; returns the rooms it left, in join order.
    pub(crate) fn remove_connection(&mut self, conn: ConnectionHandle) -> Vec<RoomName> {
        let rooms = self.of_conn.remove(&conn).unwrap_or_default();
        for room in &rooms {
            if let Some(r) = self.rooms.get_mut(room.as_str()) {
                if let Some(seq) = r.seq_of.remove(&conn) {
                    r.by_seq.remove(&seq);
                }
            }
        }
        rooms
    }

    /// Drops `room` from `conn`'s own list.
    fn forget(&mut self, conn: ConnectionHandle, room: &str) -> Option<RoomName> {
        let list = self.of_conn.get_mut(&conn)?;
        let at = list.iter().position(|r| r.as_str() == room)?;
        let name = list.remove(at);
        if list.is_empty() {
            self.of_conn.remove(&conn);
        }
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    #[test]
    fn both_directions_stay_in_step() {
        let (a, b) = (
            ConnectionHandle::from_raw(0, 0),
            ConnectionHandle::from_raw(1, 0),
        );
        let mut reg = RoomRegistry::default();
        reg.create(room("x")).unwrap();
        reg.create(room("y")).unwrap();
        assert_eq!(reg.create(room("x")), Err(RoomError::AlreadyExists));
        reg.join(&room("y"), a, 1).unwrap();
        reg.join(&room("x"), a, 2).unwrap();
        reg.join(&room("x"), b, 3).unwrap();
        assert_eq!(reg.join(&room("x"), b, 4), Err(RoomError::AlreadyMember));
        assert_eq!(reg.join(&room("z"), b, 4), Err(RoomError::NotFound));
        assert_eq!(reg.rooms_of(a), &[room("y"), room("x")]);
        let members: Vec<_> = reg.members("x").unwrap().collect();
        assert_eq!(members, vec![(a, 2), (b, 3)]);

        assert_eq!(reg.leave("x", a), Ok(room("x")));
        assert_eq!(reg.leave("x", a), Err(RoomError::NotMember));
        assert!(!reg.is_member(a, "x"));
        assert!(reg.is_member(a, "y"));

        assert_eq!(reg.destroy("x"), Ok(vec![b]));
        assert!(reg.rooms_of(b).is_empty());
        assert_eq!(reg.remove_connection(a), vec![room("y")]);
        assert_eq!(reg.members("y").unwrap().len(), 0);
        assert!(reg.of_conn.is_empty());
    }
}
