//! The shared store of rooms and members, two ways: [`MemoryStore`] for cores in one
//! process, and [`RedisStoreOp`], the Redis commands Actionhero uses for the same
//! operations with the reading of their answers (docs/protocol.md#redis-keys).
//!
//! Both are pure: an adapter applies a [`StoreOp`] that a core
//! emitted (`Server::poll_shared`) and hands the answer to `Server::handle_store`.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::{members_key, MemberRecord, MEMBERS_KEY_PREFIX, ROOMS_KEY};
use crate::server::{StoreAnswer, StoreOp, StoreRequestId};

/// Rooms and members in memory, for cores that share rooms inside one process: the
/// same answers Redis gives for Actionhero's keys (members in insertion order, as a
/// Redis hash of this size keeps them).
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: BTreeSet<String>,
    members: BTreeMap<String, Vec<MemberRecord>>,
    /// Our nodes and when their time runs out (epoch ms, the cores' clock).
    nodes: BTreeMap<String, u64>,
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
            StoreOp::NodeAlive {
                server_id,
                ttl,
                now_ms,
            } => {
                let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                self.nodes.insert(server_id, now_ms.saturating_add(ttl));
                None
            }
            StoreOp::SweepDeadNodes { now_ms } => {
                let dead: BTreeSet<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, until)| **until < now_ms)
                    .map(|(id, _)| id.clone())
                    .collect();
                if dead.is_empty() {
                    return None;
                }
                for hash in self.members.values_mut() {
                    hash.retain(|r| !dead.contains(&r.host));
                }
                self.members.retain(|_, hash| !hash.is_empty());
                self.nodes.retain(|id, _| !dead.contains(id));
                None
            }
        }
    }
}

/// The sorted set of our nodes (score: when each one's time runs out, Redis's clock in
/// epoch milliseconds). Not an Actionhero key: Actionhero nodes do not heartbeat.
pub const NODES_KEY: &str = "actionhero-ws:nodes";

/// `NodeAlive`: `ZADD nodes (now + ttl) id`, with Redis's clock.
const HEARTBEAT_SCRIPT: &str = "local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) \
return now";

/// `SweepDeadNodes`: the nodes whose time ran out (Redis's clock), every member record
/// whose `host` is one of them (in every room of the room set), and the nodes
/// themselves, removed in one atomic step. Returns how many records it removed.
const SWEEP_SCRIPT: &str = "local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now) \
if #dead == 0 then return 0 end \
local is_dead = {} \
for _, id in ipairs(dead) do is_dead[id] = true end \
local removed = 0 \
for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do \
  local key = ARGV[1] .. room \
  local all = redis.call('HGETALL', key) \
  for i = 1, #all, 2 do \
    local ok, rec = pcall(cjson.decode, all[i + 1]) \
    if ok and type(rec) == 'table' and is_dead[rec.host] then \
      redis.call('HDEL', key, all[i]) \
      removed = removed + 1 \
    end \
  end \
end \
for _, id in ipairs(dead) do redis.call('ZREM', KEYS[1], id) end \
return removed";

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
            StoreOp::NodeAlive { server_id, ttl, .. } => {
                let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                Self {
                    commands: vec![cmd(&[
                        b"EVAL",
                        HEARTBEAT_SCRIPT.as_bytes(),
                        b"1",
                        NODES_KEY.as_bytes(),
                        server_id.as_bytes(),
                        ttl.to_string().as_bytes(),
                    ])],
                    query: None,
                }
            }
            StoreOp::SweepDeadNodes { .. } => Self {
                commands: vec![cmd(&[
                    b"EVAL",
                    SWEEP_SCRIPT.as_bytes(),
                    b"2",
                    NODES_KEY.as_bytes(),
                    rooms,
                    MEMBERS_KEY_PREFIX.as_bytes(),
                ])],
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
    fn a_dead_nodes_members_are_swept() {
        let mut s = MemoryStore::new();
        let alive = |id: &str, now_ms| StoreOp::NodeAlive {
            server_id: id.into(),
            ttl: std::time::Duration::from_secs(15),
            now_ms,
        };
        s.apply(alive("node-a", 1_000));
        s.apply(alive("node-b", 1_000));
        let mut other = record("c2");
        other.host = "node-b".into();
        let mut foreign = record("c3");
        foreign.host = "an-actionhero-node".into();
        for r in [record("c1"), other, foreign.clone()] {
            s.apply(StoreOp::PutMember {
                room: room(),
                record: r,
            });
        }
        s.apply(alive("node-a", 10_000));
        s.apply(StoreOp::SweepDeadNodes { now_ms: 15_999 });
        assert_eq!(s.members("defaultRoom").len(), 3, "nobody dead yet");
        s.apply(StoreOp::SweepDeadNodes { now_ms: 16_001 });
        assert_eq!(s.members("defaultRoom"), &[record("c1"), foreign]);
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
