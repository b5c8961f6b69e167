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

    /// Destroys a room: members get `this room has been deleted` (from `"0"`) and leave
    /// (their leave hooks run, refusals ignored).
    ///
    /// # Errors
    /// [`RoomError::NotFound`].
    pub fn destroy_room(&mut self, room: &RoomName, now: Instant) -> Result<(), RoomError> {
        let now = self.clock.advance(now);
        if !self.rooms.exists(room.as_str()) {
            return Err(RoomError::NotFound);
        }
        self.deliver_chat(Chat {
            room: room.clone(),
            message: Value::String("this room has been deleted".into()),
            from: "0".into(),
            sent_at: self.clock.epoch_ms(now),
        });
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

    /// Sends a chat message to every member of `room` as the server (`from: "0"`); say
    /// hooks run per receiver. Returns the number of members reached.
    ///
    /// # Errors
    /// [`RoomError::NotFound`].
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
        let sent_at = self.clock.epoch_ms(now);
        Ok(self.deliver_chat(Chat {
            room: room.clone(),
            message,
            from: "0".into(),
            sent_at,
        }))
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
    /// it, `Err` with the verb error's text (without `Error: `).
    pub(super) fn prepare_say(
        &mut self,
        conn: ConnectionHandle,
        words: &[&Value],
        now: Instant,
    ) -> Result<Option<Chat>, String> {
        let room = words.first().filter(|w| js::truthy(w));
        let message = words
            .iter()
            .skip(1)
            .map(|w| js::js_string(w))
            .collect::<Vec<_>>()
            .join(" ");
        let Some(room) = room else {
            return Err("both room and message are required".into());
        };
        if message.is_empty() {
            return Err("both room and message are required".into());
        }
        let room = js::js_string(room);
        if !self.rooms.is_member(conn, &room) {
            return Err(format!("connection not in this room ({room})"));
        }
        let Some(info) = info(&self.slots, &self.rooms, conn) else {
            return Err("connection is gone".into());
        };
        let sent_at = self.clock.epoch_ms(now);
        if self.hooks.is_empty() {
            return Ok(RoomName::new(&room).ok().map(|room| Chat {
                room,
                message: Value::String(message),
                from: info.id.to_string(),
                sent_at,
            }));
        }
        let from = info.id.to_string();
        let mut payload = Some(reply::say_payload(
            Value::String(message),
            &room,
            &from,
            sent_at,
        ));
        for (_, h) in &mut self.hooks {
            payload = h.on_say_receive(info, payload)?;
        }
        let Some(p) = payload else { return Ok(None) };
        // Only these four fields survive the publish (docs/protocol.md#say-delivery, step 3).
        let message = p.get("message").cloned().unwrap_or(Value::Null);
        let room = p.get("room").map(js::js_string).unwrap_or_default();
        let from = p.get("from").map(js::js_string).unwrap_or_default();
        let sent_at = p.get("sentAt").and_then(Value::as_u64).unwrap_or(sent_at);
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
        if self.hooks.is_empty() {
            // One encoding shared by every receiver.
            let text = Text::from(reply::encode_message(&payload, None));
            for h in &members {
                self.transmit(*h, text.clone());
            }
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
        reached
    }
}
