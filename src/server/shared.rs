//! Shared rooms: rooms and chat spread over several cores (worker threads of one
//! process, or nodes of an Actionhero cluster), as event-in / effect-out
//! (docs/architecture.md#shared-rooms, docs/protocol.md#cluster).
//!
//! A server made with [`Server::with_shared_rooms`] keeps only its *own* connections'
//! memberships (for delivery, `detailsView` and the membership checks) and treats the
//! rest as Actionhero does with Redis:
//!
//! * a `say` (or [`Server::broadcast`]) that passed its checks and the say-receive hooks
//!   is **published** ([`SharedOutput::Publish`] of a [`ChannelMessage::Chat`]) instead
//!   of delivered; every core, this one included, gets it back through
//!   [`Server::handle_channel`] and delivers it to its own members through the `say`
//!   hooks, with the frames of the local path;
//! * the room set and the members hashes live in a **store** the adapter's transport
//!   keeps (Redis, or one in-process map): the core emits [`StoreOp`]s, writes without an
//!   answer and queries with a [`StoreRequestId`] answered by [`Server::handle_store`];
//! * `roomAdd`, `roomView`, [`Server::create_room`], [`Server::destroy_room`] and
//!   [`Server::add_member`] wait for the store; `removeMember` of another core's
//!   connection is an RPC (`do` / `doResponse`). Every wait is bounded in time
//!   ([`SharedRoomsConfig::request_timeout`]) and number
//!   ([`SharedRoomsConfig::max_pending_requests`],
//!   [`SharedRoomsConfig::max_pending_per_connection`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::chat::Chat;
use super::TimerKind;
use super::{Event, RoomError, Server};
use crate::cluster::{CallResponse, ChannelMessage, ChatMessage, MemberRecord, Method, RpcCall};
use crate::error::ConfigError;
use crate::frame::Text;
use crate::ids::{ConnectionHandle, MessageId, RoomName};
use crate::time;
use crate::wire::reply;

/// Settings of shared rooms ([`Server::with_shared_rooms`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedRoomsConfig {
    /// This core's id in the cluster (Actionhero's `serverId`, the `host` of the member
    /// records it writes); unique among the cores sharing rooms.
    pub server_id: String,
    /// How long a request waits for the store or an RPC answer before it fails
    /// (`roomView` and `roomAdd` answer [`SHARED_TIMEOUT_ERROR`], commands report
    /// [`RoomError::Timeout`]). Default: 5 s, Actionhero's `rpcTimeout`.
    pub request_timeout: Duration,
    /// Most requests waiting for the store or an RPC answer at once; more fail at once
    /// ([`SHARED_BUSY_ERROR`], [`RoomError::Busy`]). Default: 4096.
    pub max_pending_requests: usize,
    /// Most `roomAdd` and `roomView` of one connection waiting at once (each keeps the
    /// request's leftover fields for its answer); more are answered
    /// [`SHARED_BUSY_ERROR`]. Default: 16.
    pub max_pending_per_connection: usize,
    /// How long this node counts as alive after each of its heartbeats in the store
    /// (sent every third of it, with a sweep that removes the member records of our
    /// nodes whose time ran out: a node that died leaves no ghost members for longer
    /// than this). `None`: no heartbeat and no sweep (Actionhero's behaviour: a dead
    /// node's members stay forever). Only nodes of this crate heartbeat; Actionhero
    /// nodes' members are never swept. Default: 15 s.
    pub node_ttl: Option<Duration>,
}

impl SharedRoomsConfig {
    /// The defaults, with this core's id.
    pub fn new(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            request_timeout: Duration::from_millis(crate::cluster::DEFAULT_RPC_TIMEOUT_MS),
            max_pending_requests: 4096,
            max_pending_per_connection: 16,
            node_ttl: Some(Duration::from_secs(15)),
        }
    }

    /// Checks every value.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::InvalidValue { field, reason });
        if self.server_id.is_empty() {
            return bad("shared_rooms.server_id", "must not be empty");
        }
        if self.request_timeout.is_zero() {
            return bad("shared_rooms.request_timeout", "must be positive");
        }
        if self.max_pending_requests == 0 {
            return bad("shared_rooms.max_pending_requests", "must be at least 1");
        }
        if self.max_pending_per_connection == 0 {
            return bad(
                "shared_rooms.max_pending_per_connection",
                "must be at least 1",
            );
        }
        if self
            .node_ttl
            .is_some_and(|t| t < Duration::from_millis(300))
        {
            return bad("shared_rooms.node_ttl", "must be at least 300 ms");
        }
        Ok(())
    }
}

/// The verb error (after `Error: `) of a `roomAdd` or `roomView` whose store answer did
/// not come within [`SharedRoomsConfig::request_timeout`].
pub const SHARED_TIMEOUT_ERROR: &str = "room request timed out";

/// The verb error (after `Error: `) of a `roomAdd` or `roomView` refused because
/// [`SharedRoomsConfig::max_pending_requests`] are waiting.
pub const SHARED_BUSY_ERROR: &str = "too many pending room requests";

/// Identifies one store query; [`Server::handle_store`] answers it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreRequestId(pub u64);

/// What the adapter's transport must carry out for shared rooms, drained with
/// [`Server::poll_shared`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SharedOutput {
    /// Publish on the room bus: every core sharing the rooms, **this one included**,
    /// must get it through [`Server::handle_channel`], in the order this core published
    /// (Redis: `PUBLISH` on the channel, encoded with `cluster::ChannelCodec`).
    Publish(ChannelMessage),
    /// Apply to the shared store, in the order emitted (Redis: one connection).
    Store(StoreOp),
}

/// One operation on the shared store (docs/protocol.md#redis-keys).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOp {
    /// Add `room` to the room set (`SADD actionhero:chatRoom:rooms`); answer
    /// [`StoreAnswer::Created`] (false when it was there already).
    CreateRoom {
        /// The query.
        id: StoreRequestId,
        /// The room.
        room: RoomName,
    },
    /// Is `room` in the room set (`SISMEMBER`)? Answer [`StoreAnswer::Exists`].
    RoomExists {
        /// The query.
        id: StoreRequestId,
        /// The room.
        room: RoomName,
    },
    /// The members of `room` (`SISMEMBER`, then `HGETALL` of its members hash); answer
    /// [`StoreAnswer::Members`], `None` when the room does not exist, records in the
    /// hash's order (an in-process store keeps insertion order).
    ReadMembers {
        /// The query.
        id: StoreRequestId,
        /// The room.
        room: RoomName,
    },
    /// Write a member record (`HSET actionhero:chatRoom:members:<room> <id> <record>`).
    PutMember {
        /// The room.
        room: RoomName,
        /// The record (`MemberRecord::encode` is the stored value).
        record: MemberRecord,
    },
    /// Remove a member record (`HDEL`).
    DeleteMember {
        /// The room.
        room: RoomName,
        /// The connection id (the hash field).
        connection_id: String,
    },
    /// Remove the room from the set and delete its members hash (`SREM`, `DEL`).
    DeleteRoom {
        /// The room.
        room: RoomName,
    },
    /// This node is alive until `ttl` from the store's clock (Redis: a score in the
    /// sorted set `actionhero-ws:nodes`, written by a script with Redis's own time;
    /// `now_ms` is the core's clock, for an in-process store).
    NodeAlive {
        /// This node's server id.
        server_id: String,
        /// How long it counts as alive.
        ttl: Duration,
        /// The core's wall clock, epoch milliseconds.
        now_ms: u64,
    },
    /// Remove every member record whose `host` is a node whose time ran out, and
    /// forget those nodes (Redis: one script, atomic).
    SweepDeadNodes {
        /// The core's wall clock, epoch milliseconds.
        now_ms: u64,
    },
}

/// The store's answer to a query ([`Server::handle_store`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreAnswer {
    /// To [`StoreOp::CreateRoom`]: true when the room was added.
    Created(bool),
    /// To [`StoreOp::RoomExists`].
    Exists(bool),
    /// To [`StoreOp::ReadMembers`]: `None` when the room does not exist.
    Members(Option<Vec<MemberRecord>>),
}

/// A room command whose outcome comes later, in shared mode, as
/// [`Event::RoomCommandDone`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomCommand {
    /// [`Server::create_room`].
    Create,
    /// [`Server::destroy_room`].
    Destroy,
    /// [`Server::add_member`] of this connection.
    AddMember(ConnectionHandle),
    /// [`Server::remove_member_by_id`] of a connection on another core.
    RemoveMember(String),
}

/// Who waits for a join.
#[derive(Debug)]
enum Reply {
    /// A `roomAdd`: answer it.
    Verb {
        message_id: MessageId,
        remnant: Value,
    },
    /// [`Server::add_member`]: report [`Event::RoomCommandDone`].
    Command,
    /// An `api.chatRoom.addMember` RPC from another core (its `messageId`): answer
    /// `true` on success.
    Rpc(String),
}

#[derive(Debug)]
enum Waiting {
    View {
        conn: ConnectionHandle,
        message_id: MessageId,
        remnant: Value,
        room: RoomName,
    },
    Join {
        conn: ConnectionHandle,
        room: RoomName,
        reply: Reply,
    },
    Create {
        room: RoomName,
    },
    Destroy {
        room: RoomName,
    },
}

#[derive(Debug)]
struct PendingStore {
    deadline: Instant,
    waiting: Waiting,
}

impl Waiting {
    /// The connection whose verb waits (counted against its limit).
    fn verb_conn(&self) -> Option<ConnectionHandle> {
        match self {
            Self::View { conn, .. }
            | Self::Join {
                conn,
                reply: Reply::Verb { .. },
                ..
            } => Some(*conn),
            Self::Join { .. } | Self::Create { .. } | Self::Destroy { .. } => None,
        }
    }
}

#[derive(Debug)]
struct PendingRpc {
    deadline: Instant,
    message_id: String,
    connection_id: String,
    room: RoomName,
    /// The [`Server::destroy_room`] (its sequence) that waits for this removal before
    /// it deletes the room; `None` for [`Server::remove_member_by_id`].
    destroy: Option<u64>,
}

/// The shared-rooms state of one core.
#[derive(Debug)]
pub(super) struct Shared {
    config: SharedRoomsConfig,
    out: VecDeque<SharedOutput>,
    /// Store queries by id; ids grow with time and the timeout is fixed, so the first
    /// entry has the earliest deadline.
    store: BTreeMap<StoreRequestId, PendingStore>,
    /// RPCs waiting for their `doResponse`, by sequence (first = earliest deadline).
    rpcs: BTreeMap<u64, PendingRpc>,
    /// Verbs waiting per connection.
    per_conn: BTreeMap<ConnectionHandle, usize>,
    next_id: u64,
    /// The transport reported the bus and store unreachable ([`Server::handle_shared_link`]).
    down: bool,
    /// When the next heartbeat and sweep are due (with [`SharedRoomsConfig::node_ttl`]).
    next_beat: Option<Instant>,
}

impl Shared {
    pub(super) fn new(config: SharedRoomsConfig, now: Instant) -> Self {
        let next_beat = config.node_ttl.map(|_| now);
        Self {
            next_beat,
            config,
            out: VecDeque::new(),
            store: BTreeMap::new(),
            rpcs: BTreeMap::new(),
            per_conn: BTreeMap::new(),
            next_id: 1,
            down: false,
        }
    }

    /// True when nothing waits in [`Server::poll_shared`]'s queue.
    pub(super) fn is_drained(&self) -> bool {
        self.out.is_empty()
    }

    pub(super) fn config(&self) -> &SharedRoomsConfig {
        &self.config
    }

    pub(super) fn server_id(&self) -> &str {
        &self.config.server_id
    }

    /// The earliest deadline of a waiting request or of the next heartbeat.
    pub(super) fn next_deadline(&self) -> Option<(Instant, TimerKind)> {
        [
            self.store.values().next().map(|p| p.deadline),
            self.rpcs.values().next().map(|p| p.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| (t, TimerKind::SharedRequest))
        .into_iter()
        .chain(self.next_beat.map(|t| (t, TimerKind::NodeHeartbeat)))
        .min_by_key(|(t, _)| *t)
    }

    /// Sends this node's heartbeat and a sweep when due.
    fn beat(&mut self, now: Instant, now_ms: u64) {
        let (Some(due), Some(ttl)) = (self.next_beat, self.config.node_ttl) else {
            return;
        };
        if due > now {
            return;
        }
        self.next_beat = Some(time::add(now, ttl / 3));
        if self.down {
            return;
        }
        self.write(StoreOp::NodeAlive {
            server_id: self.config.server_id.clone(),
            ttl,
            now_ms,
        });
        self.write(StoreOp::SweepDeadNodes { now_ms });
    }

    fn is_full(&self) -> bool {
        self.store.len() + self.rpcs.len() >= self.config.max_pending_requests
    }

    /// True when no more requests may wait for `conn`'s verbs.
    fn is_full_for(&self, conn: ConnectionHandle) -> bool {
        self.is_full()
            || self.per_conn.get(&conn).copied().unwrap_or(0)
                >= self.config.max_pending_per_connection
    }

    /// Removes a waiting query (releasing its connection's count).
    fn take(&mut self, id: StoreRequestId) -> Option<PendingStore> {
        let p = self.store.remove(&id)?;
        if let Some(conn) = p.waiting.verb_conn() {
            if let Some(n) = self.per_conn.get_mut(&conn) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_conn.remove(&conn);
                }
            }
        }
        Some(p)
    }

    fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Registers a query and emits its operation (`op` builds it from the id).
    fn query(
        &mut self,
        waiting: Waiting,
        now: Instant,
        op: impl FnOnce(StoreRequestId) -> StoreOp,
    ) -> StoreRequestId {
        let id = StoreRequestId(self.next());
        let deadline = time::add(now, self.config.request_timeout);
        if let Some(conn) = waiting.verb_conn() {
            *self.per_conn.entry(conn).or_default() += 1;
        }
        self.store.insert(id, PendingStore { deadline, waiting });
        self.out.push_back(SharedOutput::Store(op(id)));
        id
    }

    pub(super) fn write(&mut self, op: StoreOp) {
        self.out.push_back(SharedOutput::Store(op));
    }

    pub(super) fn publish(&mut self, message: ChannelMessage) {
        self.out.push_back(SharedOutput::Publish(message));
    }

    pub(super) fn publish_chat(&mut self, chat: Chat) {
        let message = ChatMessage {
            server_id: self.config.server_id.clone(),
            room: chat.room,
            from: chat.from,
            message: chat.message,
            sent_at: chat.sent_at,
        };
        self.publish(ChannelMessage::Chat(message));
    }
}

impl Server {
    // ---- inputs ----------------------------------------------------------------

    /// A message the room bus carried (from any core, this one included). A `chat` is
    /// delivered to this core's members of its room through the `say` hooks; a `do`
    /// addressed to one of this core's connections (or to every core) is run and
    /// answered; a `doResponse` completes this core's waiting RPC. Ignored without
    /// shared rooms.
    pub fn handle_channel(&mut self, message: ChannelMessage, now: Instant) {
        let now = self.clock.advance(now);
        if self.shared.is_none() {
            return;
        }
        match message {
            ChannelMessage::Chat(m) => {
                self.deliver_chat(Chat {
                    room: m.room,
                    message: m.message,
                    from: m.from,
                    sent_at: m.sent_at,
                });
            }
            ChannelMessage::Call(call) => self.run_call(call, now),
            ChannelMessage::Response(r) => self.complete_rpc(&r),
        }
    }

    /// The store's answer to the query `request`. An answer to a query that is not
    /// waiting (it timed out) is ignored; so is an answer of the wrong kind (the query
    /// then times out).
    pub fn handle_store(&mut self, request: StoreRequestId, answer: StoreAnswer, now: Instant) {
        let now = self.clock.advance(now);
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(p) = shared.store.get(&request) else {
            return;
        };
        let fits = matches!(
            (&p.waiting, &answer),
            (
                Waiting::View { .. } | Waiting::Destroy { .. },
                StoreAnswer::Members(_)
            ) | (Waiting::Join { .. }, StoreAnswer::Exists(_))
                | (Waiting::Create { .. }, StoreAnswer::Created(_))
        );
        if !fits {
            return;
        }
        let Some(p) = shared.take(request) else {
            return;
        };
        match (p.waiting, answer) {
            (
                Waiting::View {
                    conn,
                    message_id,
                    remnant,
                    room,
                },
                StoreAnswer::Members(members),
            ) => {
                let text = match members {
                    Some(records) => {
                        reply::encode_verb_ok(Some(&room_view(&room, &records)), &message_id)
                    }
                    None => reply::encode_verb_error(
                        "Error: room does not exist",
                        &remnant,
                        &message_id,
                    ),
                };
                self.transmit(conn, Text::from(text));
            }
            (Waiting::Join { conn, room, reply }, StoreAnswer::Exists(exists)) => {
                let result = if exists {
                    self.join_checked(conn, room.clone(), now)
                } else {
                    Err(RoomError::NotFound)
                };
                self.join_done(conn, room, reply, result);
            }
            (Waiting::Create { room }, StoreAnswer::Created(created)) => {
                let result = if created {
                    Ok(())
                } else {
                    Err(RoomError::AlreadyExists)
                };
                self.event(Event::RoomCommandDone {
                    command: RoomCommand::Create,
                    room,
                    result,
                });
            }
            (Waiting::Destroy { room }, StoreAnswer::Members(members)) => {
                let result = match members {
                    None => Err(RoomError::NotFound),
                    Some(records) => self.destroy_shared(&room, &records, now),
                };
                // `Ok(false)`: the room goes once the other cores answered.
                if result != Ok(false) {
                    self.event(Event::RoomCommandDone {
                        command: RoomCommand::Destroy,
                        room,
                        result: result.map(|_| ()),
                    });
                }
            }
            _ => {}
        }
    }

    /// The next effect for the shared rooms' transport, or `None` when drained. Drain
    /// it with [`Server::poll_output`] after every input and command; the two queues go
    /// to different places, so their relative order does not matter, but each must be
    /// carried out in its own order. Always `None` without shared rooms.
    pub fn poll_shared(&mut self) -> Option<SharedOutput> {
        self.shared.as_mut()?.out.pop_front()
    }

    /// Removes the connection `connection_id` from `room` wherever it is: on this core
    /// as [`Server::remove_member`] does; on another core through an
    /// `api.chatRoom.removeMember` RPC, whose outcome is reported as
    /// [`Event::RoomCommandDone`] ([`RoomError::Timeout`] when no answer comes within
    /// the request timeout).
    ///
    /// # Errors
    /// As [`Server::remove_member`] for this core's connection; [`RoomError::Busy`]
    /// when too many requests wait; [`RoomError::ConnectionGone`] without shared rooms
    /// when no connection of this core has that id.
    pub fn remove_member_by_id(
        &mut self,
        connection_id: &str,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if let Some(conn) = self.handle_of(connection_id) {
            return self.leave(conn, room.as_str());
        }
        if self.shared.is_none() {
            return Err(RoomError::ConnectionGone);
        }
        let message_id = self.rng.uuid_v4();
        let Some(shared) = &mut self.shared else {
            return Err(RoomError::ConnectionGone);
        };
        if shared.is_full() {
            return Err(RoomError::Busy);
        }
        let call = RpcCall::remove_member(
            shared.config.server_id.clone(),
            message_id.clone(),
            connection_id,
            room.as_str(),
        );
        let seq = shared.next();
        let deadline = time::add(now, shared.config.request_timeout);
        shared.rpcs.insert(
            seq,
            PendingRpc {
                deadline,
                message_id,
                connection_id: connection_id.into(),
                room: room.clone(),
                destroy: None,
            },
        );
        shared.publish(ChannelMessage::Call(call));
        Ok(())
    }

    // ---- what the verbs and commands start ------------------------------------------

    /// Starts a join that waits for the store's word that `room` exists. `Err` for what
    /// fails at once (nothing is then pending).
    pub(super) fn start_join(
        &mut self,
        conn: ConnectionHandle,
        room: &str,
        reply_to: Option<(MessageId, Value)>,
        now: Instant,
    ) -> Result<(), RoomError> {
        if self.conn(conn).is_none() {
            return Err(RoomError::ConnectionGone);
        }
        if self.rooms.is_member(conn, room) {
            return Err(RoomError::AlreadyMember);
        }
        let room = RoomName::new(room).map_err(|_| RoomError::NotFound)?;
        let reply = match reply_to {
            Some((message_id, remnant)) => Reply::Verb {
                message_id,
                remnant,
            },
            None => Reply::Command,
        };
        self.query_join(conn, room, reply, now)
    }

    /// Starts a `roomView` of a room `conn` is in: answered when the members arrive.
    pub(super) fn start_view(
        &mut self,
        conn: ConnectionHandle,
        room: &str,
        message_id: MessageId,
        remnant: Value,
        now: Instant,
    ) -> Result<(), RoomError> {
        let room = RoomName::new(room).map_err(|_| RoomError::NotFound)?;
        let Some(shared) = &mut self.shared else {
            return Err(RoomError::NotFound);
        };
        if shared.is_full_for(conn) {
            return Err(RoomError::Busy);
        }
        let waiting = Waiting::View {
            conn,
            message_id,
            remnant,
            room: room.clone(),
        };
        shared.query(waiting, now, |id| StoreOp::ReadMembers { id, room });
        Ok(())
    }

    /// [`Server::create_room`] with shared rooms.
    pub(super) fn start_create(&mut self, room: RoomName, now: Instant) -> Result<(), RoomError> {
        let Some(shared) = &mut self.shared else {
            return Err(RoomError::NotFound);
        };
        if shared.is_full() {
            return Err(RoomError::Busy);
        }
        let waiting = Waiting::Create { room: room.clone() };
        shared.query(waiting, now, |id| StoreOp::CreateRoom { id, room });
        Ok(())
    }

    /// [`Server::destroy_room`] with shared rooms: read the members, then
    /// [`Server::destroy_shared`].
    pub(super) fn start_destroy(&mut self, room: &RoomName, now: Instant) -> Result<(), RoomError> {
        let Some(shared) = &mut self.shared else {
            return Err(RoomError::NotFound);
        };
        if shared.is_full() {
            return Err(RoomError::Busy);
        }
        let waiting = Waiting::Destroy { room: room.clone() };
        let room = room.clone();
        shared.query(waiting, now, |id| StoreOp::ReadMembers { id, room });
        Ok(())
    }

    /// Publishes a chat message that passed the say-receive hooks; while the bus is
    /// down it is delivered to this core's members instead (the other cores cannot be
    /// reached, and publishing it later as well would deliver it here twice).
    pub(super) fn publish_chat(&mut self, chat: Chat) {
        if let Some(shared) = &mut self.shared {
            if shared.down {
                self.deliver_chat(chat);
            } else {
                shared.publish_chat(chat);
            }
        }
    }

    /// Whether the transport of shared rooms (the bus and the store; Redis) is
    /// reachable, as the adapter last reported with [`Server::handle_shared_link`].
    pub fn shared_link_up(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| !s.down)
    }

    /// The transport of shared rooms went away (`up == false`) or came back (`up ==
    /// true`). While it is away, says and broadcasts reach this core's members only
    /// (nothing is published for later); requests that need the store wait and time out
    /// as usual. When it comes back, this core registers again every room it has members
    /// in and every membership it holds (`CreateRoom` and `PutMember`, with the original
    /// join times), so a store that lost its data (a restarted Redis) knows them again.
    /// Ignored without shared rooms, or when the state does not change.
    pub fn handle_shared_link(&mut self, up: bool, now: Instant) {
        let _ = self.clock.advance(now);
        let Some(shared) = &mut self.shared else {
            return;
        };
        if shared.down != up {
            return;
        }
        shared.down = !up;
        self.event(Event::SharedLink { up });
        let Some(shared) = &mut self.shared else {
            return;
        };
        if !up {
            return;
        }
        let mut records = Vec::new();
        for room in self.rooms.names() {
            let Some(members) = self.rooms.members(room.as_str()) else {
                continue;
            };
            let members: Vec<(ConnectionHandle, u64)> = members.collect();
            if members.is_empty() {
                continue;
            }
            records.push((room.clone(), members));
        }
        for (room, members) in records {
            let id = StoreRequestId(shared.next());
            // Only its effect matters: the answer finds no waiting request.
            shared.write(StoreOp::CreateRoom {
                id,
                room: room.clone(),
            });
            for (conn, joined_at) in members {
                let Some(c) = self
                    .slots
                    .get(conn.index as usize)
                    .and_then(|s| s.conn.as_ref())
                else {
                    continue;
                };
                shared.write(StoreOp::PutMember {
                    room: room.clone(),
                    record: MemberRecord {
                        id: c.id.to_string(),
                        joined_at,
                        host: shared.server_id().to_owned(),
                    },
                });
            }
        }
    }

    /// The store could not answer the query `request` (the transport failed it): it
    /// ends at once as if it had timed out (`roomView` and `roomAdd` answer
    /// [`SHARED_TIMEOUT_ERROR`], commands report [`RoomError::Timeout`]) instead of
    /// waiting for its deadline. Ignored for a query that is not waiting.
    pub fn handle_store_failed(&mut self, request: StoreRequestId, now: Instant) {
        let _ = self.clock.advance(now);
        let Some(shared) = &mut self.shared else {
            return;
        };
        if let Some(p) = shared.take(request) {
            self.store_timed_out(p.waiting);
        }
    }

    /// Expires waiting requests whose deadline is due.
    pub(super) fn expire_shared(&mut self, now: Instant) {
        let now_ms = self.clock.epoch_ms(now);
        if let Some(shared) = &mut self.shared {
            shared.beat(now, now_ms);
        }
        loop {
            let Some(shared) = &mut self.shared else {
                return;
            };
            let due_store = shared
                .store
                .first_key_value()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(id, _)| *id);
            if let Some(id) = due_store {
                if let Some(p) = shared.take(id) {
                    self.store_timed_out(p.waiting);
                }
                continue;
            }
            let due_rpc = shared
                .rpcs
                .first_key_value()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(seq, _)| *seq);
            let Some(seq) = due_rpc else { return };
            if let Some(p) = shared.rpcs.remove(&seq) {
                match p.destroy {
                    // A member nobody removed (its node is gone, or it was not in the
                    // room any more): the room goes all the same.
                    Some(destroy) => self.destroy_step(destroy, &p.room),
                    None => self.event(Event::RoomCommandDone {
                        command: RoomCommand::RemoveMember(p.connection_id),
                        room: p.room,
                        result: Err(RoomError::Timeout),
                    }),
                }
            }
        }
    }

    // ---- helpers ---------------------------------------------------------------------

    fn query_join(
        &mut self,
        conn: ConnectionHandle,
        room: RoomName,
        reply: Reply,
        now: Instant,
    ) -> Result<(), RoomError> {
        let Some(shared) = &mut self.shared else {
            return Err(RoomError::NotFound);
        };
        let full = match reply {
            Reply::Verb { .. } => shared.is_full_for(conn),
            Reply::Command | Reply::Rpc(_) => shared.is_full(),
        };
        if full {
            return Err(RoomError::Busy);
        }
        let waiting = Waiting::Join {
            conn,
            room: room.clone(),
            reply,
        };
        shared.query(waiting, now, |id| StoreOp::RoomExists { id, room });
        Ok(())
    }

    /// Reports how a waiting join ended.
    fn join_done(
        &mut self,
        conn: ConnectionHandle,
        room: RoomName,
        reply: Reply,
        result: Result<(), RoomError>,
    ) {
        match reply {
            Reply::Verb {
                message_id,
                remnant,
            } => {
                let text = match result {
                    Ok(()) => reply::encode_verb_ok(Some(&Value::Bool(true)), &message_id),
                    Err(e) => {
                        let e =
                            format!("Error: {}", super::verbs::verb_room_error(e, room.as_str()));
                        reply::encode_verb_error(&e, &remnant, &message_id)
                    }
                };
                self.transmit(conn, Text::from(text));
            }
            Reply::Command => self.event(Event::RoomCommandDone {
                command: RoomCommand::AddMember(conn),
                room,
                result,
            }),
            // Actionhero answers a call whose method threw with nothing.
            Reply::Rpc(message_id) => {
                if result.is_ok() {
                    self.answer_call(message_id, Some(Value::Bool(true)));
                }
            }
        }
    }

    fn store_timed_out(&mut self, waiting: Waiting) {
        let error = format!("Error: {SHARED_TIMEOUT_ERROR}");
        match waiting {
            Waiting::View {
                conn,
                message_id,
                remnant,
                ..
            } => {
                let text = reply::encode_verb_error(&error, &remnant, &message_id);
                self.transmit(conn, Text::from(text));
            }
            Waiting::Join { conn, room, reply } => {
                self.join_done(conn, room, reply, Err(RoomError::Timeout));
            }
            Waiting::Create { room } => self.event(Event::RoomCommandDone {
                command: RoomCommand::Create,
                room,
                result: Err(RoomError::Timeout),
            }),
            Waiting::Destroy { room } => self.event(Event::RoomCommandDone {
                command: RoomCommand::Destroy,
                room,
                result: Err(RoomError::Timeout),
            }),
        }
    }

    /// Destroys a room whose member records were read: the notice goes to this core's
    /// members at once and is published for the others (this core's copy finds no
    /// member any more); this core's members leave; the others' are removed by RPC; the
    /// room and its hash are deleted once every RPC was answered or timed out.
    ///
    /// Actionhero deletes the room without waiting for its RPCs, and the node of a
    /// remote member then checks that the room exists *after* the deletion: its
    /// `removeMember` throws `room does not exist` (an unhandled rejection that stops
    /// an Actionhero node), and the member stays. Waiting lets an Actionhero node
    /// remove its member and answer (docs/architecture.md#shared-rooms).
    ///
    /// `Ok(true)` when the room is gone already, `Ok(false)` when it goes later
    /// (`destroy_step` reports it).
    fn destroy_shared(
        &mut self,
        room: &RoomName,
        records: &[MemberRecord],
        now: Instant,
    ) -> Result<bool, RoomError> {
        if let Some(chat) = self.deletion_notice(room, now)? {
            let copy = Chat {
                room: chat.room.clone(),
                message: chat.message.clone(),
                from: chat.from.clone(),
                sent_at: chat.sent_at,
            };
            self.deliver_chat(copy);
            self.publish_chat(chat);
        }
        let local = self.members(room.as_str());
        for &h in &local {
            self.run_leave_hooks(h, room);
        }
        let _ = self.rooms.destroy(room.as_str());
        for &conn in &local {
            let room = room.clone();
            self.event(Event::RoomLeft { conn, room });
        }
        let local_ids: Vec<String> = local
            .iter()
            .filter_map(|h| self.conn(*h).map(|c| c.id.to_string()))
            .collect();
        let Some(shared) = &mut self.shared else {
            return Ok(true);
        };
        let destroy = shared.next();
        let mut waits = false;
        for record in records {
            if local_ids.contains(&record.id) {
                continue;
            }
            let message_id = self.rng.uuid_v4();
            let Some(shared) = &mut self.shared else {
                break;
            };
            let call = RpcCall::remove_member(
                shared.config.server_id.clone(),
                message_id.clone(),
                &record.id,
                room.as_str(),
            );
            // Beyond the limit of waiting requests, that member's removal is not
            // waited for (Actionhero's way).
            if !shared.is_full() {
                let seq = shared.next();
                let deadline = time::add(now, shared.config.request_timeout);
                shared.rpcs.insert(
                    seq,
                    PendingRpc {
                        deadline,
                        message_id,
                        connection_id: record.id.clone(),
                        room: room.clone(),
                        destroy: Some(destroy),
                    },
                );
                waits = true;
            }
            shared.publish(ChannelMessage::Call(call));
        }
        if waits {
            return Ok(false);
        }
        if let Some(shared) = &mut self.shared {
            shared.write(StoreOp::DeleteRoom { room: room.clone() });
        }
        Ok(true)
    }

    /// One removal the destroy `destroy` of `room` waited for was answered or timed
    /// out: after the last, the room and its hash are deleted and the destroy reported.
    fn destroy_step(&mut self, destroy: u64, room: &RoomName) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        if shared.rpcs.values().any(|p| p.destroy == Some(destroy)) {
            return;
        }
        shared.write(StoreOp::DeleteRoom { room: room.clone() });
        self.event(Event::RoomCommandDone {
            command: RoomCommand::Destroy,
            room: room.clone(),
            result: Ok(()),
        });
    }

    /// Runs a `do` message when it is addressed to every core or to one of this core's
    /// connections.
    fn run_call(&mut self, call: RpcCall, now: Instant) {
        match call.method() {
            Method::RemoveMember {
                connection_id,
                room,
            } => {
                let Some(conn) = self.member_by_id(room, connection_id) else {
                    return;
                };
                let room = room.to_owned();
                // A leave hook that refuses throws in Actionhero: no answer.
                if self.leave(conn, &room).is_ok() {
                    self.answer_call(call.message_id, Some(Value::Bool(true)));
                }
            }
            Method::AddMember {
                connection_id,
                room,
            } => {
                let Some(conn) = self.handle_of(connection_id) else {
                    return;
                };
                if self.rooms.is_member(conn, room) {
                    return;
                }
                let Ok(room) = RoomName::new(room) else {
                    return;
                };
                let reply = Reply::Rpc(call.message_id.clone());
                let _ = self.query_join(conn, room, reply, now);
            }
            Method::Log { .. } if call.target_connection().is_none() => {
                self.answer_call(call.message_id, None);
            }
            _ => {}
        }
    }

    /// Publishes the `doResponse` to the call `message_id`.
    fn answer_call(&mut self, message_id: String, response: Option<Value>) {
        if let Some(shared) = &mut self.shared {
            let answer = CallResponse {
                server_id: shared.config.server_id.clone(),
                message_id,
                response,
            };
            shared.publish(ChannelMessage::Response(answer));
        }
    }

    fn complete_rpc(&mut self, response: &CallResponse) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(seq) = shared
            .rpcs
            .iter()
            .find(|(_, p)| p.message_id == response.message_id)
            .map(|(seq, _)| *seq)
        else {
            return;
        };
        let Some(p) = shared.rpcs.remove(&seq) else {
            return;
        };
        match p.destroy {
            Some(destroy) => self.destroy_step(destroy, &p.room),
            None => self.event(Event::RoomCommandDone {
                command: RoomCommand::RemoveMember(p.connection_id),
                room: p.room,
                result: Ok(()),
            }),
        }
    }

    /// This core's member of `room` with the id `connection_id`.
    fn member_by_id(&self, room: &str, connection_id: &str) -> Option<ConnectionHandle> {
        self.rooms.members(room)?.map(|(h, _)| h).find(|h| {
            self.conn(*h)
                .is_some_and(|c| c.id.as_str() == connection_id)
        })
    }

    /// This core's connection with the id `connection_id` (a scan: only RPCs and
    /// application commands by id use it).
    fn handle_of(&self, connection_id: &str) -> Option<ConnectionHandle> {
        self.handles().into_iter().find(|h| {
            self.conn(*h)
                .is_some_and(|c| c.id.as_str() == connection_id)
        })
    }
}

/// `roomView`'s data from the store's records: `{id, joinedAt}` by id, in the store's
/// order (Actionhero's `sanitizeMemberDetails` drops `host`).
fn room_view(room: &RoomName, records: &[MemberRecord]) -> Value {
    let mut members = Map::with_capacity(records.len());
    for r in records {
        let mut m = Map::with_capacity(2);
        m.insert("id".into(), Value::String(r.id.clone()));
        m.insert("joinedAt".into(), Value::from(r.joined_at));
        members.insert(r.id.clone(), Value::Object(m));
    }
    let count = members.len();
    let mut d = Map::with_capacity(3);
    d.insert("room".into(), Value::String(room.to_string()));
    d.insert("members".into(), Value::Object(members));
    d.insert("membersCount".into(), Value::from(count));
    Value::Object(d)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant is the virtual epoch
mod tests {
    use std::net::SocketAddr;
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::handshake::Handshake;
    use crate::server::{Output, ServerConfig, TimerKind};

    fn server(now: Instant) -> Server {
        let unix: SystemTime = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // No heartbeat: these tests read every store operation.
        let shared = SharedRoomsConfig {
            node_ttl: None,
            ..SharedRoomsConfig::new("n1")
        };
        Server::with_shared_rooms(ServerConfig::default(), shared, [3; 32], now, unix).unwrap()
    }

    fn open(s: &mut Server, now: Instant) -> ConnectionHandle {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let h = s.handle_open(Handshake::for_peer(peer, None), now).unwrap();
        while s.poll_output().is_some() {}
        h
    }

    fn frames(s: &mut Server) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(o) = s.poll_output() {
            if let Output::Transmit(t) = o {
                out.push(format!("{:?}", t.frame));
            }
        }
        out
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        assert!(SharedRoomsConfig::new("").validate().is_err());
        let c = SharedRoomsConfig {
            request_timeout: Duration::ZERO,
            ..SharedRoomsConfig::new("n")
        };
        assert!(c.validate().is_err());
        let c = SharedRoomsConfig {
            max_pending_requests: 0,
            ..SharedRoomsConfig::new("n")
        };
        assert!(c.validate().is_err());
        let c = SharedRoomsConfig {
            max_pending_per_connection: 0,
            ..SharedRoomsConfig::new("n")
        };
        assert!(c.validate().is_err());
        assert!(SharedRoomsConfig::new("n").validate().is_ok());
        let t0 = Instant::now(); // virtual epoch
        let s = server(t0);
        assert_eq!(s.shared_rooms().map(|c| c.server_id.as_str()), Some("n1"));
    }

    #[test]
    fn a_wrong_or_late_answer_is_ignored() {
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let h = open(&mut s, t0);
        s.add_member(h, &RoomName::new("r").unwrap(), t0).unwrap();
        let Some(SharedOutput::Store(StoreOp::RoomExists { id, .. })) = s.poll_shared() else {
            panic!("expected an existence query");
        };
        // An answer of another kind leaves the query waiting.
        s.handle_store(id, StoreAnswer::Created(true), t0);
        assert_eq!(s.timeout_reason(), Some(TimerKind::SharedRequest));
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(5));
        s.handle_timeout(deadline);
        let done: Vec<_> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(matches!(
            done.as_slice(),
            [Output::Event(Event::RoomCommandDone {
                result: Err(RoomError::Timeout),
                ..
            })]
        ));
        // A failure after the timeout changes nothing either.
        s.handle_store_failed(id, deadline);
        assert!(s.poll_output().is_none());
        // The real answer after the timeout changes nothing.
        s.handle_store(id, StoreAnswer::Exists(true), deadline);
        assert!(s.poll_output().is_none());
        assert!(s.poll_shared().is_none());
        assert!(s.connection(h).unwrap().rooms.is_empty());
    }

    #[test]
    fn a_join_emits_the_member_record_and_a_close_deletes_it() {
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let h = open(&mut s, t0);
        let id = s.connection(h).unwrap().id.to_string();
        s.handle_text(h, r#"{"event":"roomAdd","room":"r","messageId":1}"#, t0);
        let Some(SharedOutput::Store(StoreOp::RoomExists { id: q, .. })) = s.poll_shared() else {
            panic!("expected an existence query");
        };
        assert!(frames(&mut s).is_empty());
        s.handle_store(q, StoreAnswer::Exists(true), t0);
        assert_eq!(frames(&mut s).len(), 1);
        assert_eq!(
            s.poll_shared(),
            Some(SharedOutput::Store(StoreOp::PutMember {
                room: RoomName::new("r").unwrap(),
                record: MemberRecord {
                    id: id.clone(),
                    joined_at: 1_800_000_000_000,
                    host: "n1".into()
                }
            }))
        );
        s.handle_closed(h, crate::frame::CloseCause::Remote { code: None }, t0);
        assert_eq!(
            s.poll_shared(),
            Some(SharedOutput::Store(StoreOp::DeleteMember {
                room: RoomName::new("r").unwrap(),
                connection_id: id
            }))
        );
        assert!(s.poll_shared().is_none());
        assert_eq!(s.rooms().count(), 0, "no local member left, no local room");
    }

    #[test]
    fn a_say_is_published_not_delivered() {
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let h = open(&mut s, t0);
        s.handle_text(h, r#"{"event":"roomAdd","room":"r","messageId":1}"#, t0);
        let Some(SharedOutput::Store(StoreOp::RoomExists { id: q, .. })) = s.poll_shared() else {
            panic!("expected an existence query");
        };
        s.handle_store(q, StoreAnswer::Exists(true), t0);
        while s.poll_shared().is_some() {}
        frames(&mut s);
        s.handle_text(
            h,
            r#"{"event":"say","room":"r","message":"m","messageId":2}"#,
            t0,
        );
        assert_eq!(frames(&mut s).len(), 1, "only the answer");
        let Some(SharedOutput::Publish(m @ ChannelMessage::Chat(_))) = s.poll_shared() else {
            panic!("expected a chat to publish");
        };
        s.handle_channel(m, t0);
        assert_eq!(frames(&mut s).len(), 1, "the copy, from the bus");
    }

    #[test]
    fn while_the_link_is_down_says_stay_local_and_coming_back_registers_again() {
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let h = open(&mut s, t0);
        let id = s.connection(h).unwrap().id.to_string();
        s.handle_text(h, r#"{"event":"roomAdd","room":"r","messageId":1}"#, t0);
        let Some(SharedOutput::Store(StoreOp::RoomExists { id: q, .. })) = s.poll_shared() else {
            panic!("expected an existence query");
        };
        s.handle_store(q, StoreAnswer::Exists(true), t0);
        while s.poll_shared().is_some() {}
        frames(&mut s);
        assert!(s.shared_link_up());

        s.handle_shared_link(false, t0);
        assert!(!s.shared_link_up());
        assert!(matches!(
            s.poll_output(),
            Some(Output::Event(Event::SharedLink { up: false }))
        ));
        s.handle_text(
            h,
            r#"{"event":"say","room":"r","message":"m","messageId":2}"#,
            t0,
        );
        assert_eq!(frames(&mut s).len(), 2, "the answer and the local copy");
        assert!(s.poll_shared().is_none(), "nothing published for later");

        let later = t0 + Duration::from_secs(3);
        s.handle_shared_link(true, later);
        assert!(matches!(
            s.poll_output(),
            Some(Output::Event(Event::SharedLink { up: true }))
        ));
        let room = RoomName::new("r").unwrap();
        assert!(matches!(
            s.poll_shared(),
            Some(SharedOutput::Store(StoreOp::CreateRoom { room: r, .. })) if r == room
        ));
        assert_eq!(
            s.poll_shared(),
            Some(SharedOutput::Store(StoreOp::PutMember {
                room,
                record: MemberRecord {
                    id,
                    joined_at: 1_800_000_000_000,
                    host: "n1".into()
                }
            }))
        );
        assert!(s.poll_shared().is_none());
        // Up again changes nothing; a say is published again.
        s.handle_shared_link(true, later);
        assert!(s.poll_shared().is_none());
        s.handle_text(
            h,
            r#"{"event":"say","room":"r","message":"m","messageId":3}"#,
            later,
        );
        assert_eq!(frames(&mut s).len(), 1, "only the answer");
        assert!(matches!(
            s.poll_shared(),
            Some(SharedOutput::Publish(ChannelMessage::Chat(_)))
        ));
    }

    #[test]
    fn a_failed_query_ends_at_once() {
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let h = open(&mut s, t0);
        s.handle_text(h, r#"{"event":"roomAdd","room":"r","messageId":1}"#, t0);
        let Some(SharedOutput::Store(StoreOp::RoomExists { id, .. })) = s.poll_shared() else {
            panic!("expected an existence query");
        };
        s.handle_store_failed(id, t0);
        let frames = frames(&mut s);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(SHARED_TIMEOUT_ERROR), "{frames:?}");
        assert_ne!(
            s.timeout_reason(),
            Some(TimerKind::SharedRequest),
            "nothing waits"
        );
    }

    #[test]
    fn a_node_heartbeats_and_sweeps_every_third_of_its_ttl() {
        let t0 = Instant::now(); // virtual epoch
        let unix: SystemTime = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let config = ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        };
        let shared = SharedRoomsConfig::new("n1");
        let mut s = Server::with_shared_rooms(config, shared, [3; 32], t0, unix).unwrap();
        assert_eq!(s.poll_timeout(), Some(t0), "the first beat is due at once");
        assert_eq!(s.timeout_reason(), Some(TimerKind::NodeHeartbeat));
        let beat = |s: &mut Server, now_ms| {
            assert_eq!(
                s.poll_shared(),
                Some(SharedOutput::Store(StoreOp::NodeAlive {
                    server_id: "n1".into(),
                    ttl: Duration::from_secs(15),
                    now_ms
                }))
            );
            assert_eq!(
                s.poll_shared(),
                Some(SharedOutput::Store(StoreOp::SweepDeadNodes { now_ms }))
            );
            assert!(s.poll_shared().is_none());
        };
        s.handle_timeout(t0);
        beat(&mut s, 1_800_000_000_000);
        let next = t0 + Duration::from_secs(5);
        assert_eq!(s.poll_timeout(), Some(next));
        // Not while the link is down; the beat after it comes back is on time.
        s.handle_shared_link(false, next);
        s.handle_timeout(next);
        assert!(s.poll_shared().is_none());
        let after = next + Duration::from_secs(5);
        s.handle_shared_link(true, after);
        s.handle_timeout(after);
        beat(&mut s, 1_800_000_010_000);
    }

    /// Drains the shared queue: (publishes, store operations).
    fn shared_out(s: &mut Server) -> (Vec<ChannelMessage>, Vec<StoreOp>) {
        let (mut published, mut ops) = (Vec::new(), Vec::new());
        while let Some(o) = s.poll_shared() {
            match o {
                SharedOutput::Publish(m) => published.push(m),
                SharedOutput::Store(op) => ops.push(op),
            }
        }
        (published, ops)
    }

    fn destroy_with_a_remote_member(s: &mut Server, t0: Instant) -> RpcCall {
        let r = RoomName::new("r").unwrap();
        s.destroy_room(&r, t0).unwrap();
        let Some(SharedOutput::Store(StoreOp::ReadMembers { id, .. })) = s.poll_shared() else {
            panic!("expected a members query");
        };
        let remote = MemberRecord {
            id: "remote-conn".into(),
            joined_at: 1,
            host: "ah-node".into(),
        };
        s.handle_store(id, StoreAnswer::Members(Some(vec![remote])), t0);
        let (published, ops) = shared_out(s);
        assert!(
            ops.is_empty(),
            "the room stays until the member's node answered"
        );
        let [ChannelMessage::Chat(_), ChannelMessage::Call(call)] = published.as_slice() else {
            panic!("expected the notice and a removeMember call: {published:?}");
        };
        assert_eq!(
            call.method(),
            Method::RemoveMember {
                connection_id: "remote-conn",
                room: "r"
            }
        );
        assert!(s.poll_output().is_none(), "not reported yet");
        call.clone()
    }

    #[test]
    fn a_destroy_deletes_the_room_after_the_remote_members_are_removed() {
        // An Actionhero node checks that the room exists before it removes its member:
        // deleting the room first would make it throw and keep the member.
        let t0 = Instant::now(); // virtual epoch
        let mut s = server(t0);
        let call = destroy_with_a_remote_member(&mut s, t0);
        let answer = CallResponse::to(&call, "ah-node", Some(Value::Bool(true)));
        s.handle_channel(ChannelMessage::Response(answer), t0);
        let (_, ops) = shared_out(&mut s);
        assert_eq!(
            ops,
            vec![StoreOp::DeleteRoom {
                room: RoomName::new("r").unwrap()
            }]
        );
        let done: Vec<_> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(matches!(
            done.as_slice(),
            [Output::Event(Event::RoomCommandDone {
                command: RoomCommand::Destroy,
                result: Ok(()),
                ..
            })]
        ));

        // No answer (the member's node is gone): the room goes at the deadline.
        let call = destroy_with_a_remote_member(&mut s, t0);
        assert_eq!(call.server_id, "n1");
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(5));
        s.handle_timeout(deadline);
        let (_, ops) = shared_out(&mut s);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let done: Vec<_> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(matches!(
            done.as_slice(),
            [Output::Event(Event::RoomCommandDone {
                command: RoomCommand::Destroy,
                result: Ok(()),
                ..
            })]
        ));
    }
}
