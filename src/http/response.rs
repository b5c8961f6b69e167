//! A complete HTTP/1.1 response, as the adapter writes it.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, DATE};
use http::StatusCode;

/// A complete HTTP/1.1 response: status, headers in order, body. The adapter writes
/// [`head`](Self::head) then [`body`](Self::body) (or [`to_bytes`](Self::to_bytes)),
/// then keeps the connection for the next request when [`keep_alive`](Self::keep_alive)
/// is true, or closes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: StatusCode,
    /// Header names and values, in the order they are written. `Content-Length` and
    /// `Connection` are added by [`head`](Self::head) and are never in this list.
    pub headers: Vec<(&'static str, String)>,
    /// The body. Empty for `HEAD` requests and `304`, whose `Content-Length` still
    /// describes the full body (see [`content_length`](Self::content_length)).
    pub body: Bytes,
    /// The `Content-Length` written: the body's length, or for `HEAD` the length the
    /// body would have; `None` for `304`, which has none.
    pub content_length: Option<u64>,
    /// Whether the connection stays open for another request.
    pub keep_alive: bool,
    /// Seconds an idle kept-alive connection waits for the next request (the
    /// `Keep-Alive: timeout=` value); the adapter closes it after that.
    pub keep_alive_secs: u32,
    /// The `Date` header's value, written after `Content-Length` as Node does.
    pub date: Option<String>,
}

impl HttpResponse {
    /// A response with a body and no headers yet; `keep_alive` false.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        Self {
            status,
            headers: Vec::new(),
            content_length: Some(body.len() as u64),
            body,
            keep_alive: false,
            keep_alive_secs: 0,
            date: None,
        }
    }

    /// Appends a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Drops the body but keeps its length in `Content-Length` (a `HEAD` answer).
    pub(crate) fn head_only(&mut self) {
        self.body = Bytes::new();
    }

    /// The status line and headers through the empty line.
    pub fn head(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str("HTTP/1.1 ");
        out.push_str(self.status.as_str());
        out.push(' ');
        out.push_str(self.status.canonical_reason().unwrap_or(""));
        out.push_str("\r\n");
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        if let Some(len) = self.content_length {
            out.push_str("Content-Length: ");
            out.push_str(itoa::Buffer::new().format(len));
            out.push_str("\r\n");
        }
        if let Some(date) = &self.date {
            out.push_str("Date: ");
            out.push_str(date);
            out.push_str("\r\n");
        }
        if self.keep_alive {
            out.push_str("Connection: keep-alive\r\nKeep-Alive: timeout=");
            out.push_str(itoa::Buffer::new().format(self.keep_alive_secs));
            out.push_str("\r\n\r\n");
        } else {
            out.push_str("Connection: close\r\n\r\n");
        }
        out.into_bytes()
    }

    /// Head and body in one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.head();
        out.extend_from_slice(&self.body);
        out
    }

    /// The response as an [`http::Response`], for servers that write heads themselves
    /// (hyper): the status, the headers in order, `Content-Length` and `Date` as
    /// [`head`](Self::head) writes them, and `Connection: close` when the connection
    /// must not be kept. Keeping a connection alive, and for how long, is that server's
    /// business, so no `Keep-Alive` header is added. A header whose value is not a
    /// valid header value (only possible from configured text with control
    /// characters) is left out.
    pub fn into_http(self) -> http::Response<Bytes> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        if let Some(len) = self.content_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        if let Some(Ok(date)) = self.date.as_deref().map(HeaderValue::from_str) {
            headers.insert(DATE, date);
        }
        if !self.keep_alive {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Why a server that carries routes out inside another HTTP server (hyper, axum)
/// could not, when it still owes the request an answer: see
/// [`response`](Self::response). (On its own sockets an adapter closes the
/// connection instead.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unserved {
    /// The server has stopped: `503 Service Unavailable`.
    ServerStopped,
    /// The request body did not arrive within the adapter's time limit:
    /// `408 Request Timeout` (what Node answers a slow request).
    BodyTimedOut,
    /// The request body could not be read (the stream failed or ended early):
    /// `400 Bad Request`.
    BodyFailed,
    /// An accepted upgrade, but the embedding server offers no way to take the
    /// connection over (for hyper: served without upgrades): `500 Internal Server
    /// Error`.
    UpgradeUnavailable,
}

impl Unserved {
    /// The answer: the status above, a plain-text reason, `Connection: close`.
    pub fn response(self) -> HttpResponse {
        let (status, body) = match self {
            Self::ServerStopped => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            Self::BodyTimedOut => (StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
            Self::BodyFailed => (StatusCode::BAD_REQUEST, "Bad Request"),
            Self::UpgradeUnavailable => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server cannot take this connection over",
            ),
        };
        HttpResponse::new(status, body).header("Content-Type", "text/plain")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_head_and_body() {
        let r =
            HttpResponse::new(StatusCode::NOT_FOUND, "nope").header("Content-Type", "text/plain");
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
             Connection: close\r\n\r\nnope"
        );
        let mut k = r.clone();
        k.keep_alive = true;
        k.keep_alive_secs = 5;
        k.head_only();
        assert_eq!(
            String::from_utf8(k.to_bytes()).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
             Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
        );
        assert_eq!(k.get("content-type"), Some("text/plain"));
    }

    #[test]
    fn converts_to_http_with_the_same_head() {
        let mut r = HttpResponse::new(StatusCode::OK, "{}")
            .header("Content-Type", "application/json")
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2")
            .header("X-Bad", "line\nbreak");
        r.date = Some("Thu, 01 Jan 1970 00:00:00 GMT".into());
        r.keep_alive = true;
        r.keep_alive_secs = 5;
        let h = r.clone().into_http();
        assert_eq!(h.status(), StatusCode::OK);
        assert_eq!(h.body().as_ref(), b"{}");
        let headers = h.headers();
        assert_eq!(headers["content-type"], "application/json");
        let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(headers["content-length"], "2");
        assert_eq!(headers["date"], "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(!headers.contains_key("x-bad"));
        // Keep-alive is the embedding server's: no Connection or Keep-Alive header.
        assert!(!headers.contains_key("connection"));
        assert!(!headers.contains_key("keep-alive"));

        // A HEAD answer keeps the full length; a 304 has none; a closing answer says so.
        let mut head = r.clone();
        head.head_only();
        head.keep_alive = false;
        let h = head.into_http();
        assert!(h.body().is_empty());
        assert_eq!(h.headers()["content-length"], "2");
        assert_eq!(h.headers()["connection"], "close");
        let mut not_modified = r;
        not_modified.status = StatusCode::NOT_MODIFIED;
        not_modified.content_length = None;
        not_modified.body = Bytes::new();
        assert!(!not_modified
            .into_http()
            .headers()
            .contains_key("content-length"));
    }

    #[test]
    fn unserved_answers() {
        for (why, status) in [
            (Unserved::ServerStopped, 503),
            (Unserved::BodyTimedOut, 408),
            (Unserved::BodyFailed, 400),
            (Unserved::UpgradeUnavailable, 500),
        ] {
            let r = why.response();
            assert_eq!(r.status.as_u16(), status, "{why:?}");
            assert!(!r.keep_alive);
            assert_eq!(r.get("content-type"), Some("text/plain"));
        }
    }
}
