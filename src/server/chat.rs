//! Rooms and chat: the room commands, joins and leaves with their hooks, `say` and its
//! delivery (docs/protocol.md#chat). Membership itself lives in
//! [`super::rooms::RoomRegistry`].

use std::time::Instant;

use serde_json::Value;

use super::conn::Slot;
use super::rooms::RoomRegistry;
use super::{ConnectionInfo, Event, RoomError, Server};
use crate::frame::Text;
use crate::ids::{ConnectionHandle, RoomName};
use crate::wire::{js, reply};

/// A chat message ready to deliver: what survives the say hooks (only these four fields
/// are published, as Actionhero does).
#[derive(Debug)]
pub(super) struct Chat {
    room: RoomName,
    message: Value,
    from: String,
    sent_at: u64,
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
    /// # Errors
    /// [`RoomError::AlreadyExists`], or [`RoomError::LimitReached`] at `max_rooms`.
    pub fn create_room(&mut self, room: RoomName) -> Result<(), RoomError> {
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
    /// # Errors
    /// [`RoomError::NotFound`]; [`RoomError::Rejected`] when a say-receive hook fails the
    /// notice: then, as in Actionhero, the room and its members stay.
    pub fn destroy_room(&mut self, room: &RoomName, now: Instant) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        let notice = Chat {
            room: room.clone(),
            message: Value::String("this room has been deleted".into()),
            from: "0".into(),
            sent_at: self.clock.epoch_ms(now),
        };
        if let Some(chat) = self
            .on_say_receive(None, notice)
            .map_err(RoomError::Rejected)?
        {
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
    /// # Errors
    /// [`RoomError`] for a missing room or connection, a duplicate, a limit or a hook
    /// refusal.
    pub fn add_member(
        &mut self,
        conn: ConnectionHandle,
        room: &RoomName,
        now: Instant,
    ) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
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
    /// # Errors
    /// [`RoomError::NotFound`]; [`RoomError::Rejected`] when a say-receive hook fails it.
    pub fn broadcast(
        &mut self,
        room: &RoomName,
        message: Value,
        now: Instant,
    ) -> Result<usize, RoomError> {
        let now = self.clock.advance(now);
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

    /// Members of a room, in join order (empty for a missing room).
    pub fn members(&self, room: &str) -> Vec<ConnectionHandle> {
        self.rooms
            .members(room)
            .map(|m| m.map(|(h, _)| h).collect())
            .unwrap_or_default()
    }

    /// True if the room exists.
    pub fn room_exists(&self, room: &str) -> bool {
        self.rooms.exists(room)
    }

    /// All rooms, sorted.
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
        if self.rooms.rooms_of(conn).len() >= self.config.max_rooms_per_connection {
            return Err(RoomError::LimitReached);
        }
        if let Some(info) = info(&self.slots, &self.rooms, conn) {
            for (_, h) in &mut self.hooks {
                h.join(info, &room).map_err(RoomError::Rejected)?;
            }
        }
        let joined_at = self.clock.epoch_ms(now);
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
        self.event(Event::RoomLeft { conn, room });
        Ok(())
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
            self.event(Event::RoomLeft { conn, room });
        }
    }

    fn run_leave_hooks(&mut self, conn: ConnectionHandle, room: &RoomName) {
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
    fn on_say_receive(
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
