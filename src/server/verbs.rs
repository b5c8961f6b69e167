//! What a client request does: the action and file requests handed to the application,
//! and the verbs the server answers itself (docs/protocol.md#verbs).

use std::time::Instant;

use serde_json::{Map, Value};

use super::action::{process_params, Refusal};
use super::stats::ActionResult;
use super::{DisconnectReason, Event, RoomError, Server};
use crate::frame::Text;
use crate::ids::{ConnectionHandle, MessageId};
use crate::wire::{js, reply, Request, Verb};

impl Server {
    /// Routes one decoded request by its verb.
    pub(super) fn dispatch(&mut self, conn: ConnectionHandle, mut req: Request, now: Instant) {
        let message_id = self.message_id(conn, req.message_id.clone());
        match req.verb {
            Verb::Action => {
                let params = req.take_action_params();
                self.action(conn, params, message_id, now);
            }
            Verb::File => self.file(conn, &req, message_id, now),
            _ => self.verb(conn, req, message_id, now),
        }
    }

    /// [`Server::dispatch`] of an action request, given as its id and params.
    pub(super) fn dispatch_action(
        &mut self,
        conn: ConnectionHandle,
        message_id: Option<MessageId>,
        params: Map<String, Value>,
        now: Instant,
    ) {
        let message_id = self.message_id(conn, message_id);
        self.action(conn, params, message_id, now);
    }

    /// The request's id, or a new uuid when it has none; kept as the connection's last.
    fn message_id(&mut self, conn: ConnectionHandle, id: Option<MessageId>) -> MessageId {
        let message_id = match id {
            Some(id) => id,
            None => MessageId::Text(self.rng.uuid_v4().into()),
        };
        if let Some(c) = self.conn_mut(conn) {
            c.last_message_id = Some(message_id.clone());
        }
        message_id
    }

    fn action(
        &mut self,
        conn: ConnectionHandle,
        mut params: Map<String, Value>,
        message_id: MessageId,
        now: Instant,
    ) {
        let resolved = self.actions.resolve(&mut params);
        let resolved_key = resolved.as_ref().map(|(key, _)| *key);
        let shutting_down = self.shutdown.is_some();
        let limit = self.config.simultaneous_actions;
        let Some(c) = self.conn_mut(conn) else { return };
        c.total_actions += 1;
        let refusal = if shutting_down {
            Some(Refusal::ShuttingDown)
        } else if c.pending_actions >= limit {
            Some(Refusal::TooManyPending)
        } else {
            None
        };
        let result = match (refusal, resolved) {
            (Some(r), _) => Err(r),
            (None, None) => Err(Refusal::Unknown),
            (None, Some((_, spec))) if spec.block_websocket => Err(Refusal::Unsupported),
            (None, Some((key, spec))) => process_params(&spec, params).map(|p| (key, spec, p)),
        };
        match result {
            Err(r) => {
                self.stats
                    .action(resolved_key, ActionResult::of_refusal(&r), None);
                let text = self.scratch_text(|buf| {
                    reply::write_action_error(buf, &r.message(), &message_id);
                });
                self.transmit(conn, text);
                self.after_request_done(conn);
            }
            Ok((key, spec, params)) => {
                let request = self.new_request(conn, message_id.clone(), Some(key), now);
                if let Some(c) = self.conn_mut(conn) {
                    c.pending_actions += 1;
                }
                self.event(Event::ActionRequested {
                    conn,
                    request,
                    message_id,
                    key,
                    action: spec.name.clone(),
                    params,
                });
            }
        }
    }

    fn file(&mut self, conn: ConnectionHandle, req: &Request, message_id: MessageId, now: Instant) {
        let limit = self.config.max_pending_files_per_connection;
        let Some(c) = self.conn(conn) else { return };
        let path = match req.file() {
            Some(Value::String(s)) if c.pending_files < limit => {
                crate::http::files::safe_relative_path(s).map(str::to_owned)
            }
            Some(_) | None => None,
        };
        let Some(file) = path else {
            self.stats.file(false);
            let text = reply::encode_file_not_found(&message_id);
            self.transmit(conn, Text::from(text));
            return;
        };
        let request = self.new_request(conn, message_id.clone(), None, now);
        if let Some(c) = self.conn_mut(conn) {
            c.pending_files += 1;
        }
        self.event(Event::FileRequested {
            conn,
            request,
            message_id,
            file,
        });
    }

    fn verb(&mut self, conn: ConnectionHandle, req: Request, id: MessageId, now: Instant) {
        let allowed = self
            .config
            .allowed_verbs
            .iter()
            .any(|v| v == req.verb.name());
        if !allowed {
            let msg = format!("Error: verb not found or not allowed ({})", req.verb.name());
            return self.verb_error(conn, &msg, &req, &id);
        }
        let words = req.words();
        let room_word = words.first().map(|w| js::js_string(w));
        let room_name = room_word.clone().unwrap_or_else(|| "undefined".into());
        let result: Result<Option<Value>, String> = match req.verb {
            Verb::Quit | Verb::Exit => {
                self.destroy(conn, DisconnectReason::Quit);
                return;
            }
            Verb::DetailsView => Ok(self.details(conn)),
            Verb::Documentation => Ok(Some(self.actions.documentation())),
            Verb::RoomAdd => {
                if self.is_member(conn, &room_name) {
                    Err(format!("connection already in this room ({room_name})"))
                } else {
                    match room_word {
                        None => Err("room does not exist".into()),
                        // Shared rooms: answered once the store says the room exists.
                        Some(r) if self.shared.is_some() => {
                            let reply_to = Some((id.clone(), req.remnant.clone()));
                            match self.start_join(conn, &r, reply_to, now) {
                                Ok(()) => return,
                                Err(e) => Err(verb_room_error(e, &r)),
                            }
                        }
                        Some(r) => self
                            .join(conn, &r, now)
                            .map(|()| Some(Value::Bool(true)))
                            .map_err(|e| verb_room_error(e, &r)),
                    }
                }
            }
            Verb::RoomLeave => {
                if !self.is_member(conn, &room_name) {
                    Err(format!("connection not in this room ({room_name})"))
                } else {
                    self.leave(conn, &room_name)
                        .map(|()| Some(Value::Bool(true)))
                        .map_err(|e| verb_room_error(e, &room_name))
                }
            }
            Verb::RoomView => {
                if !self.is_member(conn, &room_name) {
                    Err(format!("connection not in this room ({room_name})"))
                } else if self.shared.is_some() {
                    // Shared rooms: the members are the store's, answered when read.
                    let remnant = req.remnant.clone();
                    match self.start_view(conn, &room_name, id.clone(), remnant, now) {
                        Ok(()) => return,
                        Err(e) => Err(verb_room_error(e, &room_name)),
                    }
                } else {
                    self.room_view(&room_name)
                        .ok_or_else(|| "room does not exist".to_string())
                        .map(Some)
                }
            }
            Verb::Say => match self.prepare_say(conn, &words, now) {
                // The say response goes out before the chat copies (as observed live):
                // answer first, then deliver.
                Ok(chat) => {
                    self.transmit(conn, Text::from(reply::encode_verb_ok(None, &id)));
                    match chat {
                        // Shared rooms: every core delivers what the bus carries.
                        Some(chat) if self.shared.is_some() => self.publish_chat(chat),
                        Some(chat) => {
                            self.deliver_chat(chat);
                        }
                        None => {}
                    }
                    return;
                }
                // The whole text: `Error: …` or a `TypeError: …`.
                Err(e) => return self.verb_error(conn, &e, &req, &id),
            },
            Verb::Action | Verb::File | Verb::Other(_) => Err(format!(
                "verb not found or not allowed ({})",
                req.verb.name()
            )),
        };
        match result {
            Ok(data) => {
                let text = reply::encode_verb_ok(data.as_ref(), &id);
                self.transmit(conn, Text::from(text));
            }
            Err(e) => self.verb_error(conn, &format!("Error: {e}"), &req, &id),
        }
    }

    fn verb_error(&mut self, conn: ConnectionHandle, error: &str, req: &Request, id: &MessageId) {
        let text = reply::encode_verb_error(error, &req.remnant, id);
        self.transmit(conn, Text::from(text));
    }

    /// `detailsView`'s data.
    fn details(&self, conn: ConnectionHandle) -> Option<Value> {
        let c = self.conn(conn)?;
        let mut d = Map::with_capacity(9);
        d.insert("id".into(), Value::String(c.id.to_string()));
        d.insert(
            "fingerprint".into(),
            Value::String(c.fingerprint.to_string()),
        );
        d.insert("remoteIP".into(), Value::String(c.remote_ip.clone()));
        d.insert("remotePort".into(), Value::from(c.remote_port));
        d.insert("params".into(), Value::Object(Map::new()));
        d.insert("connectedAt".into(), Value::from(c.connected_at));
        let rooms = self.rooms.rooms_of(conn);
        d.insert(
            "rooms".into(),
            Value::Array(rooms.iter().map(|r| Value::String(r.to_string())).collect()),
        );
        d.insert("totalActions".into(), Value::from(c.total_actions));
        d.insert("pendingActions".into(), Value::from(c.pending_actions));
        Some(Value::Object(d))
    }

    /// `roomView`'s data.
    fn room_view(&self, room: &str) -> Option<Value> {
        let members_of = self.rooms.members(room)?;
        let mut members = Map::with_capacity(members_of.len());
        for (h, joined_at) in members_of {
            let Some(c) = self.conn(h) else { continue };
            let mut m = Map::with_capacity(2);
            m.insert("id".into(), Value::String(c.id.to_string()));
            m.insert("joinedAt".into(), Value::from(joined_at));
            members.insert(c.id.to_string(), Value::Object(m));
        }
        let count = members.len();
        let mut d = Map::with_capacity(3);
        d.insert("room".into(), Value::String(room.into()));
        d.insert("members".into(), Value::Object(members));
        d.insert("membersCount".into(), Value::from(count));
        Some(Value::Object(d))
    }
}

/// The verb error text for a failed room operation.
pub(super) fn verb_room_error(e: RoomError, room: &str) -> String {
    match e {
        RoomError::AlreadyMember => format!("connection already in this room ({room})"),
        RoomError::NotMember => format!("connection not in this room ({room})"),
        RoomError::LimitReached => "too many rooms for this connection".into(),
        RoomError::Rejected(m) => m,
        RoomError::Timeout => super::SHARED_TIMEOUT_ERROR.into(),
        RoomError::Busy => super::SHARED_BUSY_ERROR.into(),
        RoomError::NotFound | RoomError::AlreadyExists | RoomError::ConnectionGone => {
            "room does not exist".into()
        }
    }
}
