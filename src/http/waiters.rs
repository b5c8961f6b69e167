//! The adapter's half of `/api` requests: which connection waits for which answer.
//! The connection reads the body and hands an [`ApiCall`] (the request, its body, the
//! adapter's way back) to whoever owns the server; [`ApiWaiters`] passes it to
//! `Server::handle_api` and pairs the `Output::Http` that answers it with that way back.

use std::collections::HashMap;
use std::time::Instant;

use super::{ApiRequest, HttpResponse};
use crate::server::{HttpTransmit, RequestId, Server};

/// One `/api` request read by a connection, with `reply`: the adapter's way back to
/// that connection (a channel sender, usually).
#[derive(Debug)]
pub struct ApiCall<W> {
    /// The router's decision for the request head.
    pub request: ApiRequest,
    /// The `request.body_len` body bytes.
    pub body: Vec<u8>,
    /// Where the answer goes.
    pub reply: W,
}

/// The `/api` requests handed to the server and not answered yet.
#[derive(Debug)]
pub struct ApiWaiters<W> {
    waiting: HashMap<RequestId, W>,
}

impl<W> Default for ApiWaiters<W> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
        }
    }
}

impl<W> ApiWaiters<W> {
    /// Hands `call` to [`Server::handle_api`] and keeps its `reply` until the answer.
    pub fn submit(&mut self, server: &mut Server, call: ApiCall<W>, now: Instant) {
        let ticket = server.handle_api(call.request, &call.body, now);
        self.waiting.insert(ticket, call.reply);
    }

    /// The reply waiting for `http` (an `Output::Http`) and the response to send on it;
    /// `None` when nobody waits (the connection is gone).
    pub fn answer(&mut self, http: HttpTransmit) -> Option<(W, HttpResponse)> {
        let reply = self.waiting.remove(&http.request)?;
        Some((reply, http.response))
    }
}
