//! Actions over plain HTTP (`/api`): the same registered actions and input validation as
//! the WebSocket path, answered with Actionhero's web JSON
//! (docs/protocol.md#the-api-fallback).
//!
//! A web request is not a connection: it has no socket the server writes frames to, no
//! rooms, no heartbeat. It lives from [`Server::handle_api`] until its answer leaves as
//! [`Output::Http`].

use std::time::Instant;

use http::StatusCode;
use serde_json::{Map, Value};

use super::action::{process_params, ActionKey, Refusal, GLOBAL_SAFE_PARAMS};
use super::stats::ActionResult;
use super::{ActionOutcome, Event, Output, RequestId, Server};
use crate::http::api::{self, RequesterInformation, ServerInformation};
use crate::http::{ApiRequest, HttpResponse};
use crate::ids::{ConnectionId, Fingerprint, MessageId};
use crate::wire::reply;

/// The answer to one web request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTransmit {
    /// The ticket [`Server::handle_api`] returned.
    pub request: RequestId,
    /// The complete response.
    pub response: HttpResponse,
}

/// A web request waiting for its action.
#[derive(Debug)]
pub(super) struct WebPending {
    req: ApiRequest,
    id: String,
    message_id: String,
    started: Instant,
    /// The action version it runs.
    key: Option<ActionKey>,
    received: Map<String, Value>,
    /// JSONP: the `callback` param.
    callback: Option<String>,
}

/// The text of a web request refused because too many are running.
const TOO_BUSY: &str = "the server is too busy";

impl Server {
    /// An action request over HTTP whose body the adapter has read (`body` holds
    /// [`ApiRequest::body_len`] bytes). Returns the ticket its answer will carry in
    /// [`Output::Http`]: at once for a refused request (unknown action, missing or
    /// invalid params, bad body), else after the application answers the
    /// [`Event::WebActionRequested`] with [`Server::respond`].
    pub fn handle_api(&mut self, req: ApiRequest, body: &[u8], now: Instant) -> RequestId {
        let now = self.clock.advance(now);
        let request = RequestId(self.next_request);
        self.next_request += 1;
        let uuid = self.rng.uuid_v4();
        let id = format!("{}-{uuid}", req.fingerprint);
        let mut params = api::collect_params(&req, body);
        let received = self.received_params(&params);
        let callback = params
            .get("callback")
            .filter(|v| crate::wire::js::truthy(v))
            .map(crate::wire::js::js_string);
        let spec = self.actions.resolve(&mut params);
        let pending = WebPending {
            req,
            id,
            message_id: uuid,
            started: now,
            key: spec.as_ref().map(|(key, _)| *key),
            received,
            callback,
        };
        let refusal = if self.shutdown.is_some() {
            let r = Refusal::ShuttingDown;
            Err((StatusCode::INTERNAL_SERVER_ERROR, r.message(), r))
        } else if self.web.len() >= self.config.max_pending_web_actions {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            Err((status, TOO_BUSY.to_owned(), Refusal::TooManyPending))
        } else {
            match spec {
                None => Err((
                    StatusCode::NOT_FOUND,
                    Refusal::Unknown.message(),
                    Refusal::Unknown,
                )),
                Some((key, spec)) => match process_params(&spec, params) {
                    Ok(p) => Ok((key, spec, p)),
                    Err(r @ Refusal::Missing(_)) => {
                        Err((StatusCode::UNPROCESSABLE_ENTITY, r.message(), r))
                    }
                    Err(r) => Err((StatusCode::INTERNAL_SERVER_ERROR, r.message(), r)),
                },
            }
        };
        match refusal {
            Err((status, message, refusal)) => {
                let result = ActionResult::of_refusal(&refusal);
                self.stats.action(pending.key, result, None);
                let response = web_answer(
                    &pending,
                    status,
                    Map::new(),
                    Some(&message),
                    self.clock.epoch_ms(now),
                    now,
                );
                self.out
                    .push_back(Output::Http(HttpTransmit { request, response }));
            }
            Ok((key, spec, params)) => {
                let connection_id = ConnectionId::new(pending.id.as_str());
                let fingerprint = Fingerprint::new(pending.req.fingerprint.as_str());
                let message_id = MessageId::from(pending.message_id.as_str());
                self.web.insert(request, pending);
                self.event(Event::WebActionRequested {
                    request,
                    message_id,
                    key,
                    action: spec.name.clone(),
                    params,
                    connection_id,
                    fingerprint,
                });
            }
        }
        request
    }

    /// Answers a web request; `None` when `request` is not one.
    pub(super) fn respond_web(
        &mut self,
        request: RequestId,
        outcome: ActionOutcome,
        now: Instant,
    ) -> Option<()> {
        let pending = self.web.remove(&request)?;
        let latency = now.saturating_duration_since(pending.started);
        let result = ActionResult::of_outcome(&outcome);
        self.stats.action(pending.key, result, Some(latency));
        let epoch = self.clock.epoch_ms(now);
        let response = match outcome {
            ActionOutcome::Ok(fields) => {
                web_answer(&pending, StatusCode::OK, fields, None, epoch, now)
            }
            ActionOutcome::Err { message, fields } => {
                let error = reply::added_error(&fields, Some(&message));
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                web_answer(&pending, status, fields, error, epoch, now)
            }
            // `toRender = false`: Actionhero ends the response with nothing written.
            ActionOutcome::NoResponse => {
                let mut r = pending.req.response(StatusCode::OK, String::new());
                r.keep_alive = false;
                r
            }
        };
        self.out
            .push_back(Output::Http(HttpTransmit { request, response }));
        Some(())
    }

    /// The web requests waiting for their action.
    pub fn pending_web_actions(&self) -> usize {
        self.web.len()
    }

    /// `requesterInformation.receivedParams`: the params any registered action knows
    /// (Actionhero's `postVariables`), in request order.
    fn received_params(&self, params: &Map<String, Value>) -> Map<String, Value> {
        params
            .iter()
            .filter(|(k, _)| {
                GLOBAL_SAFE_PARAMS.contains(&k.as_str()) || self.actions.knows_input(k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn web_answer(
    pending: &WebPending,
    status: StatusCode,
    fields: Map<String, Value>,
    error: Option<&str>,
    epoch_ms: u64,
    now: Instant,
) -> HttpResponse {
    let duration = now.saturating_duration_since(pending.started).as_millis();
    let server = ServerInformation {
        server_name: &pending.req.server_name,
        api_version: &pending.req.api_version,
        request_duration_ms: u64::try_from(duration).unwrap_or(u64::MAX),
        current_time_ms: epoch_ms,
    };
    let requester = RequesterInformation {
        id: &pending.id,
        fingerprint: &pending.req.fingerprint,
        message_id: &pending.message_id,
        remote_ip: &pending.req.remote_ip,
        received_params: pending.received.clone(),
    };
    let body = api::encode_response(fields, error, &server, requester);
    match &pending.callback {
        Some(cb) => {
            let script = format!("{}({body});", api::escape_callback(cb));
            pending.req.script(status, script)
        }
        None => pending.req.response(status, body),
    }
}
