//! Chat hooks: Actionhero's chat middleware as plain synchronous Rust.

use serde_json::{Map, Value};

use crate::ids::{ConnectionHandle, ConnectionId, RoomName};

/// What a hook may know about a connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionInfo<'a> {
    /// The connection's handle.
    pub handle: ConnectionHandle,
    /// The protocol-visible id.
    pub id: &'a ConnectionId,
    /// The rooms it is in, in join order.
    pub rooms: &'a [RoomName],
}

/// Chat middleware with Actionhero's semantics (`modules/chatRoom.ts`,
/// `initializers/chatRoom.ts`). Every method has a pass-through default.
///
/// Hooks are registered with a priority and run in ascending priority order.
pub trait ChatHooks: Send {
    /// Runs before a connection joins a room; an `Err(message)` refuses the join and the
    /// client sees `Error: <message>`.
    fn join(&mut self, conn: ConnectionInfo<'_>, room: &RoomName) -> Result<(), String> {
        let _ = (conn, room);
        Ok(())
    }

    /// Runs before a connection leaves a room; an `Err(message)` refuses a `roomLeave`.
    /// When the connection is closing or the room is destroyed, the error is ignored: it
    /// leaves anyway (a closing connection's `rooms` still lists every room it leaves).
    fn leave(&mut self, conn: ConnectionInfo<'_>, room: &RoomName) -> Result<(), String> {
        let _ = (conn, room);
        Ok(())
    }

    /// Runs once per `say` with the payload `{message, room, from, context, sentAt}`
    /// (`None` if an earlier hook silenced it). Return the payload, possibly rewritten,
    /// `Ok(None)` to silence it, or `Err(message)` to fail the say with `Error: <message>`.
    /// Only `message`, `room`, `from` and `sentAt` of the result are delivered; a changed
    /// `room` re-routes the message.
    ///
    /// `sender` is `None` for the server's own messages ([`Server::broadcast`](super::Server::broadcast)
    /// and the notice of [`Server::destroy_room`](super::Server::destroy_room), `from`
    /// `"0"`), which Actionhero also passes through `onSayReceive`, with an empty
    /// connection; an `Err` then fails that call.
    fn on_say_receive(
        &mut self,
        sender: Option<ConnectionInfo<'_>>,
        payload: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, String> {
        let _ = sender;
        Ok(payload)
    }

    /// Runs once per receiver; return the payload to send (possibly enriched; it is sent
    /// as is) or `None` to skip this receiver.
    fn say(
        &mut self,
        receiver: ConnectionInfo<'_>,
        room: &RoomName,
        payload: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        let _ = (receiver, room);
        Some(payload)
    }
}
