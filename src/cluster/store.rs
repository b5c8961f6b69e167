//! The shared store of rooms and members, two ways: [`MemoryStore`] for cores in one
//! process, and [`RedisStoreOp`], the Redis commands Actionhero uses for the same
//! operations with the reading of their answers (docs/protocol.md#redis-keys).
//!
//! Both are pure: an adapter applies a [`StoreOp`] that a core
//! emitted (`Server::poll_shared`) and hands the answer to `Server::handle_store`.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::{members_key, MemberRecord, ROOMS_KEY};
use crate::server::{StoreAnswer, StoreOp, StoreRequestId};

/// Rooms and members in memory, for cores that share rooms inside one process: the
/// same answers Redis gives for Actionhero's keys (members in insertion order, as a
/// Redis hash of this size keeps them).
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: BTreeSet<String>,
    members: BTreeMap<String, Vec<MemberRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rooms, in name order.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.iter().map(String::as_str)
    }

    /// Whether `room` is in the room set.
    pub fn room_exists(&self, room: &str) -> bool {
        self.rooms.contains(room)
    }

    /// The member records of `room`, in insertion order.
    pub fn members(&self, room: &str) -> &[MemberRecord] {
        self.members.get(room).map_or(&[], Vec::as_slice)
    }

    /// Applies one operation; a query gets its answer.
    pub fn apply(&mut self, op: StoreOp) -> Option<(StoreRequestId, StoreAnswer)> {
        match op {
            StoreOp::CreateRoom { id, room } => Some((
                id,
                StoreAnswer::Created(self.rooms.insert(room.to_string())),
            )),
            StoreOp::RoomExists { id, room } => {
                Some((id, StoreAnswer::Exists(self.rooms.contains(room.as_str()))))
            }
            StoreOp::ReadMembers { id, room } => {
                let members = self
                    .rooms
                    .contains(room.as_str())
                    .then(|| self.members.get(room.as_str()).cloned().unwrap_or_default());
                Some((id, StoreAnswer::Members(members)))
            }
            StoreOp::PutMember { room, record } => {
                let hash = self.members.entry(room.to_string()).or_default();
                match hash.iter_mut().find(|r| r.id == record.id) {
                    Some(r) => *r = record,
                    None => hash.push(record),
                }
                None
            }
            StoreOp::DeleteMember {
                room,
                connection_id,
            } => {
                if let Some(hash) = self.members.get_mut(room.as_str()) {
                    hash.retain(|r| r.id != connection_id);
                    if hash.is_empty() {
                        self.members.remove(room.as_str());
                    }
                }
                None
            }
            StoreOp::DeleteRoom { room } => {
                self.rooms.remove(room.as_str());
                self.members.remove(room.as_str());
                None
            }
        }
    }
}

/// A Redis reply, as much of it as the store reads (an adapter converts its client's
/// value into this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nil.
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk or simple string.
    Data(Vec<u8>),
    /// An array (`HGETALL` answers field, value, field, value, …).
    Array(Vec<Reply>),
    /// An error reply, or anything else.
    Other,
}

/// A [`StoreOp`] as Redis commands, sent in order on one connection, and what their
/// replies mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisStoreOp {
    /// Each command with its arguments, command name first.
    pub commands: Vec<Vec<Vec<u8>>>,
    query: Option<(StoreRequestId, Query)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Query {
    Created,
    Exists,
    Members,
}

fn cmd(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

impl RedisStoreOp {
    /// The commands Actionhero 29.3.5 runs for `op` (`SADD`/`SISMEMBER`/`SREM` on the
    /// room set, `HSET`/`HDEL`/`HGETALL`/`DEL` on a room's members hash).
    pub fn new(op: &StoreOp) -> Self {
        let rooms = ROOMS_KEY.as_bytes();
        match op {
            StoreOp::CreateRoom { id, room } => Self {
                commands: vec![cmd(&[b"SADD", rooms, room.as_str().as_bytes()])],
                query: Some((*id, Query::Created)),
            },
            StoreOp::RoomExists { id, room } => Self {
                commands: vec![cmd(&[b"SISMEMBER", rooms, room.as_str().as_bytes()])],
                query: Some((*id, Query::Exists)),
            },
            StoreOp::ReadMembers { id, room } => Self {
                commands: vec![
                    cmd(&[b"SISMEMBER", rooms, room.as_str().as_bytes()]),
                    cmd(&[b"HGETALL", members_key(room.as_str()).as_bytes()]),
                ],
                query: Some((*id, Query::Members)),
            },
            StoreOp::PutMember { room, record } => Self {
                commands: vec![cmd(&[
                    b"HSET",
                    members_key(room.as_str()).as_bytes(),
                    record.id.as_bytes(),
                    record.encode().as_bytes(),
                ])],
                query: None,
            },
            StoreOp::DeleteMember {
                room,
                connection_id,
            } => Self {
                commands: vec![cmd(&[
                    b"HDEL",
                    members_key(room.as_str()).as_bytes(),
                    connection_id.as_bytes(),
                ])],
                query: None,
            },
            StoreOp::DeleteRoom { room } => Self {
                commands: vec![
                    cmd(&[b"SREM", rooms, room.as_str().as_bytes()]),
                    cmd(&[b"DEL", members_key(room.as_str()).as_bytes()]),
                ],
                query: None,
            },
        }
    }

    /// The query this operation answers, if it is one.
    pub fn query(&self) -> Option<StoreRequestId> {
        self.query.map(|(id, _)| id)
    }

    /// Reads the replies to [`RedisStoreOp::commands`] (one per command, `None` for a
    /// command that failed): the answer for the core, or `None` when there is none to
    /// give (not a query, or Redis failed it: the core's request then times out).
    /// Member records that do not decode (another program's values) are left out.
    pub fn answer(
        &self,
        replies: &[Option<Reply>],
        max_record_len: usize,
    ) -> Option<(StoreRequestId, StoreAnswer)> {
        let (id, query) = self.query?;
        let int = |i: usize| match replies.get(i) {
            Some(Some(Reply::Int(n))) => Some(*n),
            _ => None,
        };
        let answer = match query {
            Query::Created => StoreAnswer::Created(int(0)? == 1),
            Query::Exists => StoreAnswer::Exists(int(0)? == 1),
            Query::Members => {
                if int(0)? != 1 {
                    StoreAnswer::Members(None)
                } else {
                    let Some(Some(Reply::Array(items))) = replies.get(1) else {
                        return None;
                    };
                    let records = items
                        .chunks(2)
                        .filter_map(|pair| match pair {
                            [_, Reply::Data(value)] => {
                                MemberRecord::decode(value, max_record_len).ok()
                            }
                            _ => None,
                        })
                        .collect();
                    StoreAnswer::Members(Some(records))
                }
            }
        };
        Some((id, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoomName;

    fn room() -> RoomName {
        RoomName::new("defaultRoom").unwrap()
    }

    fn record(id: &str) -> MemberRecord {
        MemberRecord {
            id: id.into(),
            joined_at: 1,
            host: "node-a".into(),
        }
    }

    #[test]
    fn memory_store_answers_like_redis() {
        let mut s = MemoryStore::new();
        let id = StoreRequestId(1);
        let read = || StoreOp::ReadMembers { id, room: room() };
        assert_eq!(s.apply(read()), Some((id, StoreAnswer::Members(None))));
        let create = StoreOp::CreateRoom { id, room: room() };
        assert_eq!(
            s.apply(create.clone()),
            Some((id, StoreAnswer::Created(true)))
        );
        assert_eq!(s.apply(create), Some((id, StoreAnswer::Created(false))));
        for m in ["b", "a", "b"] {
            s.apply(StoreOp::PutMember {
                room: room(),
                record: record(m),
            });
        }
        let members = StoreAnswer::Members(Some(vec![record("b"), record("a")]));
        assert_eq!(s.apply(read()), Some((id, members)));
        s.apply(StoreOp::DeleteMember {
            room: room(),
            connection_id: "b".into(),
        });
        let members = StoreAnswer::Members(Some(vec![record("a")]));
        assert_eq!(s.apply(read()), Some((id, members)));
        s.apply(StoreOp::DeleteRoom { room: room() });
        let exists = StoreOp::RoomExists { id, room: room() };
        assert_eq!(s.apply(exists), Some((id, StoreAnswer::Exists(false))));
    }

    #[test]
    fn redis_commands_are_actionheros() {
        let id = StoreRequestId(7);
        let op = RedisStoreOp::new(&StoreOp::PutMember {
            room: room(),
            record: record("c1"),
        });
        assert_eq!(op.query(), None);
        assert_eq!(
            op.commands,
            vec![cmd(&[
                b"HSET",
                b"actionhero:chatRoom:members:defaultRoom",
                b"c1",
                record("c1").encode().as_bytes()
            ])]
        );
        let read = RedisStoreOp::new(&StoreOp::ReadMembers { id, room: room() });
        assert_eq!(read.commands.len(), 2);
        let value = Reply::Data(record("c1").encode().into_bytes());
        let replies = [
            Some(Reply::Int(1)),
            Some(Reply::Array(vec![
                Reply::Data(b"c1".to_vec()),
                value,
                Reply::Data(b"junk".to_vec()),
                Reply::Data(b"not json".to_vec()),
            ])),
        ];
        assert_eq!(
            read.answer(&replies, 1024),
            Some((id, StoreAnswer::Members(Some(vec![record("c1")]))))
        );
        let missing = [Some(Reply::Int(0)), Some(Reply::Array(vec![]))];
        assert_eq!(
            read.answer(&missing, 1024),
            Some((id, StoreAnswer::Members(None)))
        );
        assert_eq!(read.answer(&[None, None], 1024), None, "failed: no answer");
        let create = RedisStoreOp::new(&StoreOp::CreateRoom { id, room: room() });
        assert_eq!(
            create.answer(&[Some(Reply::Int(0))], 1024),
            Some((id, StoreAnswer::Created(false)))
        );
    }
}
