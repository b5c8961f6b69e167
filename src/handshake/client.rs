//! Client side: the Primus connection URL, the upgrade request and the response check.

use super::{
    has_token, head_status, header_slots, normalize_pathname, sec_websocket_accept, window,
    HandshakeError, HandshakeLimits,
};
use base64::Engine as _;
use std::fmt;
use std::net::Ipv6Addr;

/// Everything needed to open one connection attempt: where to connect and what to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientUpgrade {
    /// The full `ws://` or `wss://` URL, path and query included, as Primus builds it
    /// (default port omitted), e.g. `ws://127.0.0.1:8080/primus?sessionID=abc&_primuscb=Q8Ije8o`.
    pub url: String,
    /// The host to open a TCP connection to; an IPv6 address **without** brackets
    /// (`::1`), a name lower-cased.
    pub host: String,
    /// The TCP port (80 or 443 when the URL gives none).
    pub port: u16,
    /// True for `wss:`/`https:` URLs: wrap the TCP stream in TLS for `host`.
    pub tls: bool,
    /// The complete `GET` request head to write.
    pub request: Vec<u8>,
    /// The `Sec-WebSocket-Accept` value the server must answer with; pass it to
    /// [`parse_response`].
    pub expected_accept: String,
}

/// Builds the connection URL and upgrade request the way the Primus client does
/// (`primus/primus.js:1023-1085`).
///
/// * `url`: `http://host:port`, `https://…`, `ws://host:port/primus` or `wss://…`
///   (scheme case-insensitive). `https:`/`wss:` select TLS; the port defaults to
///   80/443. The given path is discarded and replaced by `pathname` (Primus always
///   uses its compiled pathname; a leading `/` is added if missing). The given query
///   is kept, parsed as Primus's `querystringify` does (`+` and `%xx` decoded,
///   first occurrence of a key wins, pairs that fail to decode dropped, array-index
///   keys first as in a JavaScript object) and re-encoded with `encodeURIComponent`
///   rules.
/// * Then `<cookie_key>=<fingerprint>` is set when `fingerprint` is `Some` and
///   `_primuscb=<cache_buster>` is set; "set" replaces the value of a key already in
///   the query in place and otherwise appends, like assigning a JavaScript property.
/// * `ws_key` is the 16 random bytes of `Sec-WebSocket-Key` (the caller's RNG).
/// * `cache_buster` is normally [`yeast`] of the current time.
///
/// The `Host` header omits the default port, as browsers do.
///
/// # Errors
/// [`UrlError`] when the URL does not parse, has another scheme, no host, a bad port
/// or credentials, or when `pathname` holds characters not allowed in a path.
pub fn client_upgrade(
    url: &str,
    pathname: &str,
    cookie_key: &str,
    fingerprint: Option<&str>,
    ws_key: [u8; 16],
    cache_buster: &str,
) -> Result<ClientUpgrade, UrlError> {
    let Endpoint {
        uri,
        tls,
        host,
        port,
        host_header,
        pathname,
    } = endpoint(url, pathname)?;

    let mut query = parse_querystringify(uri.query().unwrap_or(""));
    if let Some(fp) = fingerprint {
        set_param(&mut query, cookie_key, fp);
    }
    set_param(&mut query, "_primuscb", cache_buster);
    let target = format!("{pathname}?{}", stringify_query(&query));

    let key = base64::engine::general_purpose::STANDARD.encode(ws_key);
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    Ok(ClientUpgrade {
        url: format!("{}://{host_header}{target}", if tls { "wss" } else { "ws" }),
        host,
        port,
        tls,
        request: request.into_bytes(),
        expected_accept: sec_websocket_accept(&key),
    })
}

/// Where a client connects: the parsed URL, the pathname, and the `Host` header.
struct Endpoint {
    uri: http::Uri,
    tls: bool,
    host: String,
    port: u16,
    host_header: String,
    pathname: String,
}

fn endpoint(url: &str, pathname: &str) -> Result<Endpoint, UrlError> {
    let uri: http::Uri = url.parse().map_err(|_| UrlError::Invalid)?;
    let tls = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("wss") || s.eq_ignore_ascii_case("https") => true,
        _ => return Err(UrlError::UnsupportedScheme),
    };
    let authority = uri.authority().ok_or(UrlError::MissingHost)?.as_str();
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    let (host, port) = split_host_port(authority)?;
    let default_port = if tls { 443 } else { 80 };
    let port = port.unwrap_or(default_port);
    let pathname = normalize_pathname(pathname);
    if !pathname.bytes().all(is_path_byte) {
        return Err(UrlError::InvalidPathname);
    }
    let host_header = match (host.contains(':'), port == default_port) {
        (true, true) => format!("[{host}]"),
        (true, false) => format!("[{host}]:{port}"),
        (false, true) => host.clone(),
        (false, false) => format!("{host}:{port}"),
    };
    Ok(Endpoint {
        uri,
        tls,
        host,
        port,
        host_header,
        pathname,
    })
}

/// A `GET <pathname>/spec` request, to learn the server's Primus settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecRequest {
    /// Host to connect to (an IPv6 address without brackets).
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// The request bytes (`Connection: close`).
    pub request: Vec<u8>,
}

/// Builds the request for Primus's `/spec` document (`{"pingInterval":…,…}`), from the
/// same URL forms as [`client_upgrade`].
///
/// # Errors
/// [`UrlError`] as for [`client_upgrade`].
pub fn spec_request(url: &str, pathname: &str) -> Result<SpecRequest, UrlError> {
    let e = endpoint(url, pathname)?;
    let request = format!(
        "GET {}/spec HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        e.pathname.trim_end_matches('/'),
        e.host_header
    );
    Ok(SpecRequest {
        host: e.host,
        port: e.port,
        tls: e.tls,
        request: request.into_bytes(),
    })
}

/// Result of [`parse_spec_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecParsed {
    /// Not complete yet; call again with more bytes (or with `eof`).
    NeedMore,
    /// The server's heartbeat interval; `None` when it has none (Primus `false`).
    Complete {
        /// The server's `pingInterval`.
        ping_interval: Option<std::time::Duration>,
    },
}

/// Parses the answer to [`spec_request`]. The body ends at `Content-Length`, or at the
/// end of the stream (`eof`) when there is none.
///
/// # Errors
/// [`HandshakeError::UnexpectedStatus`] for a non-200 answer, [`HandshakeError::Malformed`]
/// for invalid HTTP or a body that is not the spec document, and the head limits.
pub fn parse_spec_response(
    buf: &[u8],
    eof: bool,
    limits: &HandshakeLimits,
) -> Result<SpecParsed, HandshakeError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers.min(256)];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_header_bytes => {
            return Err(HandshakeError::HeadTooLarge {
                limit: limits.max_header_bytes,
            })
        }
        Ok(httparse::Status::Partial) if eof => {
            return Err(HandshakeError::Malformed("truncated head"))
        }
        Ok(httparse::Status::Partial) => return Ok(SpecParsed::NeedMore),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            })
        }
        Err(_) => return Err(HandshakeError::Malformed("invalid HTTP response")),
    };
    let status = resp.code.unwrap_or(0);
    if status != 200 {
        return Err(HandshakeError::UnexpectedStatus { status });
    }
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let rest = buf.get(head_len..).unwrap_or_default();
    let body = match length {
        Some(n) if rest.len() >= n => &rest[..n],
        Some(_) | None if !eof => return Ok(SpecParsed::NeedMore),
        Some(_) => return Err(HandshakeError::Malformed("truncated body")),
        None => rest,
    };
    let spec: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| HandshakeError::Malformed("spec is not JSON"))?;
    let ping_interval = match spec.get("pingInterval") {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .filter(|ms| *ms > 0.0 && ms.is_finite())
            .map(|ms| std::time::Duration::from_millis(ms.min(1e12) as u64)),
        Some(_) => None,
        None => return Err(HandshakeError::Malformed("spec has no pingInterval")),
    };
    Ok(SpecParsed::Complete { ping_interval })
}

/// Result of [`parse_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseParsed {
    /// The response head is not complete yet; call again with more bytes.
    NeedMore,
    /// A valid `101` upgrade response of `consumed` bytes; bytes after it are
    /// already WebSocket frames.
    Complete {
        /// Length of the response head.
        consumed: usize,
    },
}

/// Parses and checks the server's answer to [`ClientUpgrade::request`], incrementally.
///
/// Accepts only a `101` with `Upgrade: websocket`, a `Connection` header holding the
/// `upgrade` token, exactly one `Sec-WebSocket-Accept` equal to `expected_accept`, and
/// no `Sec-WebSocket-Extensions`/`Sec-WebSocket-Protocol` (we offer none). The whole
/// head is read before the status is judged.
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`]/[`HandshakeError::TooManyHeaders`] past `limits`,
/// [`HandshakeError::Malformed`] for invalid HTTP, [`HandshakeError::UnexpectedStatus`]
/// (carrying the status) for anything but `101`, and the other client-side variants
/// for a `101` that fails a check.
pub fn parse_response(
    buf: &[u8],
    expected_accept: &str,
    limits: &HandshakeLimits,
) -> Result<ResponseParsed, HandshakeError> {
    let mut slots = header_slots(limits);
    let mut response = httparse::Response::new(&mut slots);
    let status = response.parse(window(buf, limits));
    let Some(consumed) = head_status(status, buf.len(), limits)? else {
        return Ok(ResponseParsed::NeedMore);
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::UnexpectedStatus { status: code });
    }
    let headers = &*response.headers;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if !has_token(values("upgrade"), "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(values("connection"), "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut accepts = values("sec-websocket-accept");
    match (accepts.next(), accepts.next()) {
        (Some(v), None) if v.trim_ascii() == expected_accept.as_bytes() => {}
        _ => return Err(HandshakeError::AcceptMismatch),
    }
    if values("sec-websocket-extensions").next().is_some() {
        return Err(HandshakeError::UnexpectedExtension);
    }
    if values("sec-websocket-protocol").next().is_some() {
        return Err(HandshakeError::UnexpectedSubprotocol);
    }
    Ok(ResponseParsed::Complete { consumed })
}

/// Primus's cache-buster (`yeast`, `primus/dist/primus.js:2432-2502`): `epoch_ms` in
/// base 64 with the alphabet `0-9A-Za-z-_`, most significant digit first; with
/// `Some(counter)` (a second call within the same millisecond) `.` and the counter in
/// the same base are appended.
///
/// ```
/// use actionhero_ws::handshake::yeast;
/// assert_eq!(yeast(0, None), "0");
/// assert_eq!(yeast(64, Some(1)), "10.1");
/// ```
pub fn yeast(epoch_ms: u64, counter: Option<u32>) -> String {
    let mut out = base64_digits(epoch_ms);
    if let Some(c) = counter {
        out.push('.');
        out.push_str(&base64_digits(u64::from(c)));
    }
    out
}

/// A URL [`client_upgrade`] cannot connect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a valid absolute URL.
    Invalid,
    /// The scheme is not `ws`, `wss`, `http` or `https`.
    UnsupportedScheme,
    /// The URL has no host.
    MissingHost,
    /// The host is not a valid name or bracketed IPv6 address.
    InvalidHost,
    /// The port is not a number in 1..=65535.
    InvalidPort,
    /// The URL carries `user:password@` credentials, which Primus would send and we
    /// do not support.
    Credentials,
    /// The pathname holds a character that is not allowed unescaped in a path.
    InvalidPathname,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "not a valid absolute URL",
            Self::UnsupportedScheme => "URL scheme must be ws, wss, http or https",
            Self::MissingHost => "URL has no host",
            Self::InvalidHost => "URL host is invalid",
            Self::InvalidPort => "URL port must be a number in 1..=65535",
            Self::Credentials => "credentials in the URL are not supported",
            Self::InvalidPathname => "pathname holds characters not allowed in a URL path",
        })
    }
}

impl std::error::Error for UrlError {}

const YEAST_ALPHABET: &[u8; 64] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

fn base64_digits(mut n: u64) -> String {
    let mut digits = Vec::with_capacity(11);
    loop {
        // `n % 64` is below 64, so the index is in bounds.
        digits.push(YEAST_ALPHABET[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().map(|&b| char::from(b)).collect()
}

/// Splits an authority without userinfo into a lower-cased host (IPv6 unbracketed)
/// and an optional port.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(UrlError::InvalidHost)?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| UrlError::InvalidHost)?;
        (ip.to_string(), after)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        let (host, after) = authority.split_at(end);
        (host.to_ascii_lowercase(), after)
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let port = match port {
        // `http://h:` means the default port, as in WHATWG URLs.
        "" | ":" => None,
        p => {
            let digits = p.strip_prefix(':').ok_or(UrlError::InvalidHost)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UrlError::InvalidPort);
            }
            match digits.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlError::InvalidPort),
                Ok(n) => Some(n),
            }
        }
    };
    Ok((host, port))
}

/// Bytes allowed unescaped in a request path (RFC 3986 `pchar` and `/`, plus `%`
/// for already-escaped sequences).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// The query as Primus's bundled `querystringify.parse` reads it: pairs matched by
/// `/([^=?#&]+)=?([^&]*)/g`, `+` → space, `decodeURIComponent`, a pair that fails to
/// decode dropped, the first occurrence of a key kept.
fn parse_querystringify(query: &str) -> Vec<(String, String)> {
    let bytes = query.as_bytes();
    let is_key_stop = |b: u8| matches!(b, b'=' | b'?' | b'#' | b'&');
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i).is_some_and(|&b| is_key_stop(b)) {
            i += 1;
            continue;
        }
        let key_start = i;
        while bytes.get(i).is_some_and(|&b| !is_key_stop(b)) {
            i += 1;
        }
        let key_end = i;
        if bytes.get(i) == Some(&b'=') {
            i += 1;
        }
        let value_start = i;
        while bytes.get(i).is_some_and(|&b| b != b'&') {
            i += 1;
        }
        // Every stop is ASCII, so these are char boundaries.
        let (Some(key), Some(value)) = (query.get(key_start..key_end), query.get(value_start..i))
        else {
            continue;
        };
        let (Some(key), Some(value)) = (decode_uri_component(key), decode_uri_component(value))
        else {
            continue;
        };
        if !pairs.iter().any(|(k, _)| *k == key) {
            pairs.push((key, value));
        }
    }
    // A JavaScript object enumerates array-index keys first, ascending.
    pairs.sort_by_key(|(k, _)| {
        if crate::wire::js::is_array_index(k) {
            (false, k.parse::<u64>().unwrap_or(0))
        } else {
            (true, 0)
        }
    });
    pairs
}

/// `decodeURIComponent(s.replace(/\+/g, ' '))`, `None` where JavaScript throws.
fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
                let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Assigns `query[key] = value` with JavaScript object semantics.
fn set_param(query: &mut Vec<(String, String)>, key: &str, value: &str) {
    if let Some(pair) = query.iter_mut().find(|(k, _)| k == key) {
        pair.1 = value.to_owned();
        return;
    }
    if crate::wire::js::is_array_index(key) {
        // An index key lands among the other index keys, in numeric order.
        let n = key.parse::<u64>().unwrap_or(0);
        let at = query
            .iter()
            .position(|(k, _)| {
                !crate::wire::js::is_array_index(k) || k.parse::<u64>().unwrap_or(0) > n
            })
            .unwrap_or(query.len());
        query.insert(at, (key.to_owned(), value.to_owned()));
    } else {
        query.push((key.to_owned(), value.to_owned()));
    }
}

fn stringify_query(query: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in query {
        if !out.is_empty() {
            out.push('&');
        }
        encode_uri_component(&mut out, k);
        out.push('=');
        encode_uri_component(&mut out, v);
    }
    out
}

/// `encodeURIComponent`: everything but `A-Za-z0-9-_.!~*'()` percent-encoded as UTF-8.
fn encode_uri_component(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = *b"the sample nonce";

    fn up(url: &str) -> ClientUpgrade {
        client_upgrade(url, "/primus", "sessionID", None, KEY, "Q8Ije8o").unwrap()
    }

    fn request(u: &ClientUpgrade) -> String {
        String::from_utf8(u.request.clone()).unwrap()
    }

    #[test]
    fn http_url_gives_ws_request() {
        let u = client_upgrade(
            "http://127.0.0.1:18099",
            "/primus",
            "sessionID",
            Some("abc123"),
            KEY,
            "Q8Ije8o",
        )
        .unwrap();
        assert_eq!(
            u.url,
            "ws://127.0.0.1:18099/primus?sessionID=abc123&_primuscb=Q8Ije8o"
        );
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("127.0.0.1", 18099, false)
        );
        assert_eq!(
            request(&u),
            "GET /primus?sessionID=abc123&_primuscb=Q8Ije8o HTTP/1.1\r\n\
             Host: 127.0.0.1:18099\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        assert_eq!(u.expected_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn https_and_wss_use_tls_and_443() {
        for url in [
            "https://Example.COM",
            "wss://example.com/",
            "WSS://example.com:443/x",
        ] {
            let u = up(url);
            assert_eq!(u.url, "wss://example.com/primus?_primuscb=Q8Ije8o", "{url}");
            assert_eq!((u.host.as_str(), u.port, u.tls), ("example.com", 443, true));
            assert!(request(&u).contains("\r\nHost: example.com\r\n"));
        }
        let u = up("https://example.com:8443");
        assert_eq!(u.port, 8443);
        assert_eq!(u.url, "wss://example.com:8443/primus?_primuscb=Q8Ije8o");
        assert!(request(&u).contains("\r\nHost: example.com:8443\r\n"));
    }

    #[test]
    fn ws_url_path_is_replaced_and_default_port_omitted() {
        let u = up("ws://h:80/other/path");
        assert_eq!(u.url, "ws://h/primus?_primuscb=Q8Ije8o");
        assert_eq!(u.port, 80);
        assert!(request(&u).starts_with("GET /primus?_primuscb=Q8Ije8o HTTP/1.1\r\nHost: h\r\n"));
        // An https port on a plain URL is not a default.
        assert_eq!(
            up("http://h:443").url,
            "ws://h:443/primus?_primuscb=Q8Ije8o"
        );
        // Pathname without a leading slash gets one.
        let u = client_upgrade("ws://h", "io", "sessionID", None, KEY, "x").unwrap();
        assert_eq!(u.url, "ws://h/io?_primuscb=x");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let u = up("ws://[::1]:8080/primus");
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.url, "ws://[::1]:8080/primus?_primuscb=Q8Ije8o");
        assert!(request(&u).contains("\r\nHost: [::1]:8080\r\n"));
        let u = up("https://[2001:DB8::1]");
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.url, "wss://[2001:db8::1]/primus?_primuscb=Q8Ije8o");
    }

    #[test]
    fn query_is_kept_first_wins_and_reencoded() {
        let u = client_upgrade(
            "http://h:1/x?b=2&a=x+y&b=3&c=%7e%20&bad=%zz&d&2=two&1=one",
            "/primus",
            "sessionID",
            Some("s p/é"),
            KEY,
            "Q8Ije8o.0",
        )
        .unwrap();
        assert_eq!(
            u.url,
            "ws://h:1/primus?1=one&2=two&b=2&a=x%20y&c=~%20&d=&sessionID=s%20p%2F%C3%A9&_primuscb=Q8Ije8o.0"
        );
        // An existing key is replaced in place.
        let u = client_upgrade(
            "ws://h/?_primuscb=old&sessionID=old&z=1",
            "/primus",
            "sessionID",
            Some("new"),
            KEY,
            "cb",
        )
        .unwrap();
        assert_eq!(u.url, "ws://h/primus?_primuscb=cb&sessionID=new&z=1");
        // The `[^=?#&]+=?[^&]*` matcher: a key stops at `?`, the value takes the rest.
        let u = up("ws://h/?=x&a?b=1");
        assert_eq!(u.url, "ws://h/primus?x=&a=%3Fb%3D1&_primuscb=Q8Ije8o");
    }

    #[test]
    fn bad_urls_are_errors() {
        let cases = [
            ("not a url", UrlError::Invalid),
            ("ftp://h", UrlError::UnsupportedScheme),
            ("h:80", UrlError::UnsupportedScheme),
            ("/primus", UrlError::UnsupportedScheme),
            ("ws://h:99999", UrlError::InvalidPort),
            ("ws://h:0", UrlError::InvalidPort),
            ("ws://h:+1", UrlError::InvalidPort),
            ("ws://u:p@h", UrlError::Credentials),
            ("ws://[zz]:1", UrlError::InvalidHost),
        ];
        for (url, err) in cases {
            assert_eq!(
                client_upgrade(url, "/primus", "sessionID", None, KEY, "x"),
                Err(err),
                "{url}"
            );
        }
        assert_eq!(
            client_upgrade("ws://h", "/a b", "sessionID", None, KEY, "x"),
            Err(UrlError::InvalidPathname)
        );
        assert!(!UrlError::Invalid.to_string().is_empty());
    }

    #[test]
    fn yeast_matches_primus() {
        assert_eq!(yeast(0, None), "0");
        assert_eq!(yeast(63, None), "_");
        assert_eq!(yeast(64, None), "10");
        assert_eq!(yeast(64, Some(0)), "10.0");
        assert_eq!(yeast(64, Some(65)), "10.11");
        // 1_700_000_000_000 ms has 7 digits like the live `Q8Ije8o`.
        let y = yeast(1_700_000_000_000, None);
        assert_eq!(y.len(), 7);
        assert_eq!(y, "OlFvMW0");
        assert_eq!(yeast(u64::MAX, None), "F__________");
    }

    const GOOD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn response_good_101_at_every_split() {
        let limits = HandshakeLimits::default();
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes.extend_from_slice(b"\x81\x02hi");
        for cut in 0..GOOD.len() {
            assert_eq!(
                parse_response(&bytes[..cut], ACCEPT, &limits),
                Ok(ResponseParsed::NeedMore),
                "{cut}"
            );
        }
        for end in GOOD.len()..=bytes.len() {
            assert_eq!(
                parse_response(&bytes[..end], ACCEPT, &limits),
                Ok(ResponseParsed::Complete {
                    consumed: GOOD.len()
                })
            );
        }
        // Header names and tokens are case-insensitive; lists are fine.
        let relaxed = "HTTP/1.1 101 x\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
                       sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
        assert!(matches!(
            parse_response(relaxed.as_bytes(), ACCEPT, &limits),
            Ok(ResponseParsed::Complete { .. })
        ));
    }

    #[test]
    fn response_rejections() {
        let limits = HandshakeLimits::default();
        let check = |resp: &str, err: HandshakeError| {
            assert_eq!(
                parse_response(resp.as_bytes(), ACCEPT, &limits),
                Err(err),
                "{resp}"
            );
        };
        check(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            HandshakeError::UnexpectedStatus { status: 404 },
        );
        check(
            &GOOD.replace("s3pPLMB", "BBBBBBB"),
            HandshakeError::AcceptMismatch,
        );
        check(
            &GOOD.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", ""),
            HandshakeError::AcceptMismatch,
        );
        check(
            &GOOD.replace(
                "\r\n\r\n",
                &format!("\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"),
            ),
            HandshakeError::AcceptMismatch,
        );
        check(
            &GOOD.replace("Upgrade: websocket", "Upgrade: h2c"),
            HandshakeError::MissingUpgrade,
        );
        check(
            &GOOD.replace("Connection: Upgrade", "Connection: close"),
            HandshakeError::MissingConnectionUpgrade,
        );
        check(
            &GOOD.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            ),
            HandshakeError::UnexpectedExtension,
        );
        check(
            &GOOD.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
            HandshakeError::UnexpectedSubprotocol,
        );
        check(
            "HTTP/1.1 1x1 OK\r\n\r\n",
            HandshakeError::Malformed("invalid status code"),
        );
    }

    #[test]
    fn response_limits() {
        let small = HandshakeLimits {
            max_header_bytes: 64,
            max_headers: 2,
        };
        assert_eq!(
            parse_response(GOOD.as_bytes(), ACCEPT, &small),
            Err(HandshakeError::HeadTooLarge { limit: 64 })
        );
        let many = HandshakeLimits {
            max_header_bytes: 4096,
            max_headers: 2,
        };
        assert_eq!(
            parse_response(GOOD.as_bytes(), ACCEPT, &many),
            Err(HandshakeError::TooManyHeaders { limit: 2 })
        );
        // Endless garbage without an end of head hits the byte limit, never grows.
        let long = vec![b'a'; 100];
        assert_eq!(
            parse_response(b"HTTP/1.1 101 OK\r\nX: ", ACCEPT, &small),
            Ok(ResponseParsed::NeedMore)
        );
        let mut partial = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        partial.extend_from_slice(&long);
        assert_eq!(
            parse_response(&partial, ACCEPT, &small),
            Err(HandshakeError::HeadTooLarge { limit: 64 })
        );
    }

    #[test]
    fn spec_request_and_response() {
        let r = spec_request("https://example.com/ignored", "/primus").unwrap();
        assert_eq!((r.host.as_str(), r.port, r.tls), ("example.com", 443, true));
        assert_eq!(
            String::from_utf8(r.request).unwrap(),
            "GET /primus/spec HTTP/1.1\r\nHost: example.com\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        let body = r#"{"pingInterval":30000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#;
        let full = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let limits = HandshakeLimits::default();
        for cut in 0..full.len() {
            assert_eq!(
                parse_spec_response(&full.as_bytes()[..cut], false, &limits),
                Ok(SpecParsed::NeedMore)
            );
        }
        let want = SpecParsed::Complete {
            ping_interval: Some(std::time::Duration::from_millis(30_000)),
        };
        assert_eq!(
            parse_spec_response(full.as_bytes(), false, &limits),
            Ok(want)
        );
        let no_len = format!("HTTP/1.1 200 OK\r\n\r\n{}", body.replace("30000", "false"));
        assert_eq!(
            parse_spec_response(no_len.as_bytes(), false, &limits),
            Ok(SpecParsed::NeedMore)
        );
        assert_eq!(
            parse_spec_response(no_len.as_bytes(), true, &limits),
            Ok(SpecParsed::Complete {
                ping_interval: None
            })
        );
        assert_eq!(
            parse_spec_response(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                false,
                &limits
            ),
            Err(HandshakeError::UnexpectedStatus { status: 404 })
        );
        assert!(parse_spec_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            false,
            &limits
        )
        .is_err());
    }
}
