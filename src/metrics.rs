//! Metrics for operators: what the server ([`Server::stats`]) and the router
//! ([`Router::stats`]) counted, plus the adapter's outbound queues, rendered in
//! Prometheus's text exposition format; and the decisions of a metrics listener (which
//! request gets the metrics, what the answer looks like), so an adapter only moves bytes.
//!
//! The renderer is hand-written: the numbers are plain fields of snapshots the core
//! already keeps, so a metrics library would add a registry or a global recorder and
//! copy them into it, for the same dozen lines of text.
//!
//! Every series is named `ahws_…`:
//!
//! | series | type | labels |
//! |---|---|---|
//! | `ahws_connections_open` | gauge | |
//! | `ahws_connections_opened_total` | counter | |
//! | `ahws_connections_rejected_total` | counter | `reason` ([`OpenRejected::label`]) |
//! | `ahws_connections_closed_total` | counter | `cause` ([`DisconnectReason::label`]) |
//! | `ahws_handshake_rejections_total` | counter | `status` |
//! | `ahws_http_requests_total` | counter | `route` (`upgrade`, `respond`, `file`, `action`) |
//! | `ahws_messages_received_total`, `ahws_received_bytes_total` | counter | |
//! | `ahws_messages_sent_total`, `ahws_sent_bytes_total` | counter | |
//! | `ahws_protocol_violations_total` | counter | `kind` ([`Violation::label`]) |
//! | `ahws_actions_total` | counter | `action`, `outcome` ([`ActionStats::outcomes`]) |
//! | `ahws_action_duration_seconds` | histogram | `action` |
//! | `ahws_actions_running` | gauge | |
//! | `ahws_file_requests_total` | counter | `outcome` (`found`, `not_found`) |
//! | `ahws_chat_messages_total`, `ahws_chat_deliveries_total` | counter | |
//! | `ahws_rooms` | gauge | |
//! | `ahws_outbound_queued_frames`, `ahws_outbound_queued_frames_max` | gauge | |
//!
//! Slow consumers closed are `ahws_connections_closed_total{cause="slow_consumer"}`.

use std::fmt::Write as _;

use http::{Method, Request, StatusCode};

#[cfg(doc)]
use crate::http::Router;
use crate::http::{HttpResponse, RouterStats};
use crate::server::ServerStats;
#[cfg(doc)]
use crate::server::{ActionStats, DisconnectReason, OpenRejected, Server, Violation};

/// The path a metrics listener serves.
pub const METRICS_PATH: &str = "/metrics";

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The adapter's outbound queues (frames the core handed over that the sockets have not
/// taken yet): the only numbers a metrics snapshot needs from the adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// Gauge: frames queued for connections' writers, all connections together.
    pub queued_frames: u64,
    /// Gauge: the most frames queued for one connection.
    pub max_queued_frames: u64,
}

/// One snapshot of everything counted, ready to render.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// The server machine's counters.
    pub server: ServerStats,
    /// The router's counters.
    pub router: RouterStats,
    /// The adapter's outbound queues.
    pub outbound: OutboundStats,
}

impl Metrics {
    /// Renders the snapshot in Prometheus's text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut o = Out(String::with_capacity(4096));
        let s = &self.server;
        let r = &self.router;

        o.family("connections_open", "gauge", "Open WebSocket connections.");
        o.sample("connections_open", &[], s.connections_open);
        o.counter(
            "connections_opened_total",
            "WebSocket connections accepted.",
        );
        o.sample("connections_opened_total", &[], s.connections_opened);
        o.counter(
            "connections_rejected_total",
            "Upgraded connections the server refused, by reason.",
        );
        for (reason, n) in &s.connections_rejected {
            o.sample("connections_rejected_total", &[("reason", reason)], *n);
        }
        o.counter(
            "connections_closed_total",
            "WebSocket connections ended, by cause.",
        );
        for (cause, n) in &s.connections_closed {
            o.sample("connections_closed_total", &[("cause", cause)], *n);
        }
        o.counter(
            "handshake_rejections_total",
            "WebSocket upgrade requests refused, by HTTP status.",
        );
        for (status, n) in &r.upgrade_rejections {
            let status = status.to_string();
            o.sample("handshake_rejections_total", &[("status", &status)], *n);
        }
        o.counter(
            "http_requests_total",
            "HTTP request heads routed, by route.",
        );
        for (route, n) in [
            ("upgrade", r.upgrades),
            ("respond", r.responses),
            ("file", r.files),
            ("action", r.actions),
        ] {
            o.sample("http_requests_total", &[("route", route)], n);
        }

        o.counter("messages_received_total", "WebSocket messages read.");
        o.sample("messages_received_total", &[], s.messages_received);
        o.counter(
            "received_bytes_total",
            "Bytes of the WebSocket messages read.",
        );
        o.sample("received_bytes_total", &[], s.bytes_received);
        o.counter("messages_sent_total", "WebSocket text messages sent.");
        o.sample("messages_sent_total", &[], s.messages_sent);
        o.counter(
            "sent_bytes_total",
            "Bytes of the WebSocket text messages sent.",
        );
        o.sample("sent_bytes_total", &[], s.bytes_sent);
        o.counter(
            "protocol_violations_total",
            "Messages the server could not use, by kind.",
        );
        for (kind, n) in &s.violations {
            o.sample("protocol_violations_total", &[("kind", kind)], *n);
        }

        o.counter(
            "actions_total",
            "Action requests (WebSocket and HTTP) answered, by action and outcome.",
        );
        for (action, a) in &s.actions {
            for (outcome, n) in &a.outcomes {
                let labels = [("action", action.as_str()), ("outcome", outcome)];
                o.sample("actions_total", &labels, *n);
            }
        }
        o.family(
            "action_duration_seconds",
            "histogram",
            "Time from an action request to the application's answer.",
        );
        for (action, a) in &s.actions {
            for (bound, n) in a.latency.cumulative() {
                let le = match bound {
                    Some(us) => seconds(us),
                    None => "+Inf".to_owned(),
                };
                let labels = [("action", action.as_str()), ("le", le.as_str())];
                o.sample("action_duration_seconds_bucket", &labels, n);
            }
            let labels = [("action", action.as_str())];
            let sum = a.latency.sum().as_micros();
            o.sample_text(
                "action_duration_seconds_sum",
                &labels,
                &seconds(u64::try_from(sum).unwrap_or(u64::MAX)),
            );
            o.sample("action_duration_seconds_count", &labels, a.latency.count());
        }
        o.family(
            "actions_running",
            "gauge",
            "Action requests handed to the application and not answered yet.",
        );
        o.sample("actions_running", &[], s.actions_running);
        o.counter(
            "file_requests_total",
            "file verb requests answered, by outcome.",
        );
        for (outcome, n) in &s.files {
            o.sample("file_requests_total", &[("outcome", outcome)], *n);
        }

        o.counter(
            "chat_messages_total",
            "Chat messages published to a room (say, broadcasts, notices).",
        );
        o.sample("chat_messages_total", &[], s.chat_messages);
        o.counter(
            "chat_deliveries_total",
            "Chat messages delivered, one per receiving member.",
        );
        o.sample("chat_deliveries_total", &[], s.chat_deliveries);
        o.family("rooms", "gauge", "Chat rooms.");
        o.sample("rooms", &[], s.rooms);

        o.family(
            "outbound_queued_frames",
            "gauge",
            "Frames queued for the sockets and not written yet.",
        );
        o.sample("outbound_queued_frames", &[], self.outbound.queued_frames);
        o.family(
            "outbound_queued_frames_max",
            "gauge",
            "The most frames queued for one socket.",
        );
        o.sample(
            "outbound_queued_frames_max",
            &[],
            self.outbound.max_queued_frames,
        );
        o.0
    }
}

/// Microseconds as decimal seconds (`2500` → `0.0025`), exactly.
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// The text being rendered.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP ahws_{name} {help}");
        let _ = writeln!(self.0, "# TYPE ahws_{name} {kind}");
    }

    fn counter(&mut self, name: &str, help: &str) {
        self.family(name, "counter", help);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_text(name, labels, itoa::Buffer::new().format(value));
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.0.push_str("ahws_");
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_label(&mut self.0, v);
                self.0.push('"');
            }
            self.0.push('}');
        }
        self.0.push(' ');
        self.0.push_str(value);
        self.0.push('\n');
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// What a metrics listener does with a request head.
#[derive(Debug)]
pub enum Scrape {
    /// Take a fresh [`Metrics`] snapshot and answer with [`scrape_response`].
    Metrics {
        /// A `HEAD` request: the same headers, no body.
        head: bool,
    },
    /// Answer with this response and close.
    Respond(HttpResponse),
}

/// Decides what a metrics listener answers: `GET` or `HEAD` [`METRICS_PATH`] (any
/// query) gets the metrics, any other path `404`, any other method `405`.
pub fn scrape(req: &Request<()>) -> Scrape {
    if req.uri().path() != METRICS_PATH {
        let r = HttpResponse::new(StatusCode::NOT_FOUND, "Not Found\n")
            .header("Content-Type", "text/plain; charset=utf-8");
        return Scrape::Respond(r);
    }
    match *req.method() {
        Method::GET => Scrape::Metrics { head: false },
        Method::HEAD => Scrape::Metrics { head: true },
        _ => {
            let r = HttpResponse::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Allow", "GET, HEAD");
            Scrape::Respond(r)
        }
    }
}

/// The answer to a scrape: `200` with the rendered metrics (`Connection: close`; no
/// body for `HEAD`, with the length it would have).
pub fn scrape_response(metrics: &Metrics, head: bool) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::OK, metrics.to_prometheus())
        .header("Content-Type", CONTENT_TYPE);
    if head {
        r.head_only();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::LATENCY_BUCKETS_US;

    #[test]
    fn seconds_are_exact_decimals() {
        let all: Vec<String> = LATENCY_BUCKETS_US.iter().map(|&us| seconds(us)).collect();
        assert_eq!(
            all,
            [
                "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                "2.5", "5", "10"
            ]
        );
        assert_eq!(seconds(1_234_567), "1.234567");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label(&mut out, "a\"b\\c\nd");
        assert_eq!(out, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn scrape_routes_by_path_and_method() {
        let req = |m: &str, uri: &str| {
            Request::builder()
                .method(m)
                .uri(uri)
                .body(())
                .expect("request")
        };
        assert!(matches!(
            scrape(&req("GET", "/metrics?x=1")),
            Scrape::Metrics { head: false }
        ));
        assert!(matches!(
            scrape(&req("HEAD", "/metrics")),
            Scrape::Metrics { head: true }
        ));
        match scrape(&req("GET", "/")) {
            Scrape::Respond(r) => assert_eq!(r.status, StatusCode::NOT_FOUND),
            other => panic!("{other:?}"),
        }
        match scrape(&req("POST", "/metrics")) {
            Scrape::Respond(r) => assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED),
            other => panic!("{other:?}"),
        }
        let head = scrape_response(&Metrics::default(), true);
        assert!(head.body.is_empty());
        assert!(head.content_length.unwrap_or(0) > 0);
    }
}
