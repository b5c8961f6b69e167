//! A complete HTTP/1.1 response, as the adapter writes it.

use bytes::Bytes;
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
}
