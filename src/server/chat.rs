//! Rooms and chat: the room commands, joins and leaves with their hooks, `say` and its
//! delivery (docs/protocol.md#chat). Membership itself lives in
//! [`super::rooms::RoomRegistry`].

use std::time::Instant;

use serde_json::Value;

use super::conn::Slot;
use super::rooms::RoomRegistry;
use super::shared::StoreOp;
use super::{ConnectionInfo, Event, RoomError, Server};
use crate::cluster::MemberRecord;
use crate::frame::Text;
use crate::ids::{ConnectionHandle, RoomName};
use crate::wire::{js, reply};

/// A chat message ready to deliver: what survives the say hooks (only these four fields
/// are published, as Actionhero does).
#[derive(Debug)]
pub(super) struct Chat {
    pub(super) room: RoomName,
    pub(super) message: Value,
    pub(super) from: String,
    pub(super) sent_at: u64,
}

/// What a hook may know about `conn` (one place builds it; borrows only the slots and the
/// registry, so the hooks can be borrowed mutably beside it).
fn info<'a>(
    slots: &'a [Slot],
    rooms: &'a RoomRegistry,
    conn: ConnectionHandle,
) -> Option<ConnectionInfo<'a>> {
    let slot = slots.get(conn.index as usize)?;
    if slot.generation != conn.generation {
        return None;
    }
    let c = slot.conn.as_ref()?;
    Some(ConnectionInfo {
        handle: conn,
        id: &c.id,
        rooms: rooms.rooms_of(conn),
    })
}

impl Server {
    /// Creates a room.
    ///
    /// With shared rooms the room set is the store's: the room is added there and the
    /// outcome comes as [`Event::RoomCommandDone`] (`max_rooms` does not apply).
    ///
    /// # Errors
    /// [`RoomError::AlreadyExists`], or [`RoomError::LimitReached`] at `max_rooms`;
    /// with shared rooms only [`RoomError::Busy`].
    pub fn create_room(&mut self, room: RoomName) -> Result<(), RoomError> {
        if self.shared.is_some() {
            let now = self.clock.last_now();
            return self.start_create(room, now);
        }
        if self.rooms.exists(room.as_str()) {
            return Err(RoomError::AlreadyExists);
        }
        if self.rooms.len() >= self.config.max_rooms {
            return Err(RoomError::LimitReached);
        }
        self.rooms.create(room)
    }

    /// Destroys a room: members get `this room has been deleted` (from `"0"`, through the
    /// say-receive and say hooks like [`Server::broadcast`]) and leave (their leave hooks
    /// run, refusals ignored).
    ///
    /// With shared rooms the members are read from the store first; members on other
    /// cores are removed by RPC, and the outcome comes as [`Event::RoomCommandDone`].
    ///
    /// # Errors
    /// [`RoomError::NotFound`]; [`RoomError::Rejected`] when a say-receive hook fails the
    /// notice: then, as in Actionhero, the room and its members stay. With shared rooms
    /// only [`RoomError::Busy`] (the others come in the event).
    pub fn destroy_room(&mut self, room: &RoomName, now: Instant) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if self.shared.is_some() {
            return self.start_destroy(room, now);
        }
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        if let Some(chat) = self.deletion_notice(room, now)? {
            self.deliver_chat(chat);
        }
        let members = self.members(room.as_str());
        for &h in &members {
            self.run_leave_hooks(h, room);
        }
        self.rooms.destroy(room.as_str())?;
        for conn in members {
            let room = room.clone();
            self.event(Event::RoomLeft { conn, room });
        }
        Ok(())
    }

    /// Adds a connection to a room (join hooks run).
    ///
    /// With shared rooms the store is asked whether the room exists first, and the
    /// outcome comes as [`Event::RoomCommandDone`] (with [`Event::RoomJoined`] on
    /// success).
    ///
    /// # Errors
    /// [`RoomError`] for a missing room or connection, a duplicate, a limit or a hook
    /// refusal; with shared rooms only what is known at once (a missing connection, a
    /// duplicate, [`RoomError::Busy`]).
    pub fn add_member(
        &mut self,
        conn: ConnectionHandle,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if self.shared.is_some() {
            return self.start_join(conn, room.as_str(), None, now);
        }
        self.join(conn, room.as_str(), now)
    }

    /// Removes a connection from a room (leave hooks run).
    ///
    /// # Errors
    /// [`RoomError`] for a missing room or connection, a non-member or a hook refusal.
    pub fn remove_member(
        &mut self,
        conn: ConnectionHandle,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        self.clock.advance(now);
        self.leave(conn, room.as_str())
    }

    /// Sends a chat message to every member of `room` as the server (`from: "0"`): the
    /// say-receive hooks run once (with no sender, as Actionhero's `chatRoom.broadcast`
    /// runs `onSayReceive` with an empty connection), then the say hooks per receiver.
    /// Returns the number of members reached (0 when a hook silenced it).
    ///
    /// With shared rooms the message is published, as Actionhero's
    /// `chatRoom.broadcast` does (without checking that the room exists), every core
    /// delivers it to its own members, and the count returned is 0.
    ///
    /// # Errors
    /// [`RoomError::NotFound`]; [`RoomError::Rejected`] when a say-receive hook fails it.
    pub fn broadcast(
        &mut self,
        room: &RoomName,
        message: Value,
        now: Instant,
    ) -> Result<usize, RoomError> {
        let now = self.clock.advance(now);
        if self.shared.is_some() {
            let chat = Chat {
                room: room.clone(),
                message,
                from: "0".into(),
                sent_at: self.clock.epoch_ms(now),
            };
            if let Some(chat) = self
                .on_say_receive(None, chat)
                .map_err(RoomError::Rejected)?
            {
                self.publish_chat(chat);
            }
            return Ok(0);
        }
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        let chat = Chat {
            room: room.clone(),
            message,
            from: "0".into(),
            sent_at: self.clock.epoch_ms(now),
        };
        match self
            .on_say_receive(None, chat)
            .map_err(RoomError::Rejected)?
        {
            Some(chat) => Ok(self.deliver_chat(chat)),
            None => Ok(0),
        }
    }

    /// Members of a room, in join order (empty for a missing room). With shared rooms,
    /// this server's members only (`roomView` asks the store).
    pub fn members(&self, room: &str) -> Vec<ConnectionHandle> {
        self.rooms
            .members(room)
            .map(|m| m.map(|(h, _)| h).collect())
            .unwrap_or_default()
    }

    /// True if the room exists (with shared rooms: has a member on this server).
    pub fn room_exists(&self, room: &str) -> bool {
        self.rooms.exists(room)
    }

    /// All rooms, sorted (with shared rooms: those with a member on this server).
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.names()
    }

    // ---- joins and leaves ----------------------------------------------------------

    pub(super) fn is_member(&self, conn: ConnectionHandle, room: &str) -> bool {
        self.rooms.is_member(conn, room)
    }

    pub(super) fn join(
        &mut self,
        conn: ConnectionHandle,
        room: &str,
        now: Instant,
    ) -> Result<(), RoomError> {
        if self.conn(conn).is_none() {
            return Err(RoomError::ConnectionGone);
        }
        if self.rooms.is_member(conn, room) {
            return Err(RoomError::AlreadyMember);
        }
        if !self.rooms.exists(room) {
            return Err(RoomError::NotFound);
        }
        let Ok(room) = RoomName::new(room) else {
            return Err(RoomError::NotFound);
        };
        self.join_checked(conn, room, now)
    }

    /// A join of an existing room: the connection and membership checked again (with
    /// shared rooms time has passed since the store was asked), the per-connection
    /// limit, the join hooks, then the record (and, shared, the store's copy).
    pub(super) fn join_checked(
        &mut self,
        conn: ConnectionHandle,
        room: RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        if self.conn(conn).is_none() {
            return Err(RoomError::ConnectionGone);
        }
        if self.rooms.is_member(conn, room.as_str()) {
            return Err(RoomError::AlreadyMember);
        }
        if self.rooms.rooms_of(conn).len() >= self.config.max_rooms_per_connection {
            return Err(RoomError::LimitReached);
        }
        if let Some(info) = info(&self.slots, &self.rooms, conn) {
            for (_, h) in &mut self.hooks {
                h.join(info, &room).map_err(RoomError::Rejected)?;
            }
        }
        let joined_at = self.clock.epoch_ms(now);
        if let Some(shared) = &mut self.shared {
            // Only this core's members are kept here; the room is the store's.
            if !self.rooms.exists(room.as_str()) {
                self.rooms.create(room.clone())?;
            }
            let id = self
                .slots
                .get(conn.index as usize)
                .and_then(|s| s.conn.as_ref())
                .map(|c| c.id.to_string())
                .unwrap_or_default();
            let record = MemberRecord {
                id,
                joined_at,
                host: shared.server_id().to_owned(),
            };
            shared.write(StoreOp::PutMember {
                room: room.clone(),
                record,
            });
        }
        self.rooms.join(&room, conn, joined_at)?;
        self.event(Event::RoomJoined { conn, room });
        Ok(())
    }

    pub(super) fn leave(&mut self, conn: ConnectionHandle, room: &str) -> Result<(), RoomError> {
        if self.conn(conn).is_none() {
            return Err(RoomError::ConnectionGone);
        }
        if !self.rooms.is_member(conn, room) {
            return Err(RoomError::NotMember);
        }
        if let Some(info) = info(&self.slots, &self.rooms, conn) {
            let name = RoomName::new(room).map_err(|_| RoomError::NotFound)?;
            for (_, h) in &mut self.hooks {
                h.leave(info, &name).map_err(RoomError::Rejected)?;
            }
        }
        let room = self.rooms.leave(room, conn)?;
        self.forget_shared(conn, &room);
        self.event(Event::RoomLeft { conn, room });
        Ok(())
    }

    /// With shared rooms: the store forgets `conn`'s record in `room`, and the room
    /// leaves the local registry once this core has no member in it.
    fn forget_shared(&mut self, conn: ConnectionHandle, room: &RoomName) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(c) = self
            .slots
            .get(conn.index as usize)
            .and_then(|s| s.conn.as_ref())
        else {
            return;
        };
        shared.write(StoreOp::DeleteMember {
            room: room.clone(),
            connection_id: c.id.to_string(),
        });
        if self
            .rooms
            .members(room.as_str())
            .is_some_and(|m| m.len() == 0)
        {
            let _ = self.rooms.destroy(room.as_str());
        }
    }

    /// A closing connection leaves every room: the leave hooks run for each (seeing it
    /// still in all of them; a refusal is ignored), then it leaves them at once.
    pub(super) fn leave_all(&mut self, conn: ConnectionHandle) {
        if !self.hooks.is_empty() {
            let rooms = self.rooms.rooms_of(conn).to_vec();
            for room in &rooms {
                self.run_leave_hooks(conn, room);
            }
        }
        for room in self.rooms.remove_connection(conn) {
            self.forget_shared(conn, &room);
            self.event(Event::RoomLeft { conn, room });
        }
    }

    pub(super) fn run_leave_hooks(&mut self, conn: ConnectionHandle, room: &RoomName) {
        let Some(info) = info(&self.slots, &self.rooms, conn) else {
            return;
        };
        for (_, h) in &mut self.hooks {
            // A connection that is closing (or whose room is destroyed) leaves whatever
            // the hook says.
            let _ = h.leave(info, room);
        }
    }

    // ---- say -----------------------------------------------------------------------

    /// Validates a `say` and runs the say-receive hooks: `Ok(None)` when a hook silenced
    /// it, `Err` with the verb error's whole text (`Error: …`, or `TypeError: …` for a
    /// word JavaScript cannot convert to a string).
    pub(super) fn prepare_say(
        &mut self,
        conn: ConnectionHandle,
        words: &[&Value],
        now: Instant,
    ) -> Result<Option<Chat>, String> {
        // Actionhero: `room = words.shift()`, then `words.join(" ")` (null words are
        // empty), then `!room || !message`, then membership (docs/protocol.md#say).
        let room = words.first().filter(|w| js::truthy(w));
        let message =
            js::try_join(words.get(1..).unwrap_or_default(), " ").map_err(|e| e.to_string())?;
        let Some(room) = room else {
            return Err("Error: both room and message are required".into());
        };
        if message.is_empty() {
            return Err("Error: both room and message are required".into());
        }
        let room = js::try_js_string(room).map_err(|e| e.to_string())?;
        if !self.rooms.is_member(conn, &room) {
            return Err(format!("Error: connection not in this room ({room})"));
        }
        let Some(from) = self.conn(conn).map(|c| c.id.to_string()) else {
            return Err("Error: connection is gone".into());
        };
        let Ok(room) = RoomName::new(&room) else {
            return Ok(None);
        };
        let chat = Chat {
            room,
            message: Value::String(message),
            from,
            sent_at: self.clock.epoch_ms(now),
        };
        self.on_say_receive(Some(conn), chat)
            .map_err(|e| format!("Error: {e}"))
    }

    /// Runs the say-receive hooks once over a message from `sender` (`None`: the server,
    /// Actionhero's empty connection `{}`). `Ok(None)` when a hook silenced it, `Err` with
    /// a hook's message. Only `message`, `room`, `from` and `sentAt` of the result
    /// survive the publish (docs/protocol.md#say-delivery, step 3).
    pub(super) fn on_say_receive(
        &mut self,
        sender: Option<ConnectionHandle>,
        chat: Chat,
    ) -> Result<Option<Chat>, String> {
        if self.hooks.is_empty() {
            return Ok(Some(chat));
        }
        let info = match sender {
            Some(conn) => match info(&self.slots, &self.rooms, conn) {
                Some(info) => Some(info),
                None => return Err("connection is gone".into()),
            },
            None => None,
        };
        let mut payload = Some(reply::say_payload(
            chat.message,
            chat.room.as_str(),
            &chat.from,
            chat.sent_at,
        ));
        for (_, h) in &mut self.hooks {
            payload = h.on_say_receive(info, payload)?;
        }
        let Some(p) = payload else { return Ok(None) };
        let message = p.get("message").cloned().unwrap_or(Value::Null);
        let room = p.get("room").map(js::js_string).unwrap_or_default();
        let from = p.get("from").map(js::js_string).unwrap_or_default();
        let sent_at = p
            .get("sentAt")
            .and_then(Value::as_u64)
            .unwrap_or(chat.sent_at);
        Ok(RoomName::new(&room).ok().map(|room| Chat {
            room,
            message,
            from,
            sent_at,
        }))
    }

    /// The notice a destroyed room's members get (`this room has been deleted`, from
    /// `"0"`), after `on_say_receive`; `None` when a hook dropped it.
    pub(super) fn deletion_notice(
        &mut self,
        room: &RoomName,
        now: Instant,
    ) -> Result<Option<Chat>, RoomError> {
        let notice = Chat {
            room: room.clone(),
            message: Value::String("this room has been deleted".into()),
            from: "0".into(),
            sent_at: self.clock.epoch_ms(now),
        };
        self.on_say_receive(None, notice)
            .map_err(RoomError::Rejected)
    }

    /// Delivers one chat message to every member of its room in join order (say hooks
    /// run per receiver); returns the number of receivers.
    pub(super) fn deliver_chat(&mut self, chat: Chat) -> usize {
        let Chat {
            room,
            message,
            from,
            sent_at,
        } = chat;
        let members = self.members(room.as_str());
        let payload = reply::say_payload(message, room.as_str(), &from, sent_at);
        self.stats.chat_messages += 1;
        if self.hooks.is_empty() {
            // One encoding shared by every receiver.
            let text = Text::from(reply::encode_message(&payload, None));
            for h in &members {
                self.transmit(*h, text.clone());
            }
            self.stats.chat_deliveries += members.len() as u64;
            return members.len();
        }
        let mut reached = 0;
        for h in members {
            let Some(info) = info(&self.slots, &self.rooms, h) else {
                continue;
            };
            let mut p = Some(payload.clone());
            for (_, hook) in &mut self.hooks {
                p = p.and_then(|p| hook.say(info, &room, p));
            }
            if let Some(p) = p {
                self.transmit(h, Text::from(reply::encode_message(&p, None)));
                reached += 1;
            }
        }
        self.stats.chat_deliveries += reached as u64;
        reached
    }
}
