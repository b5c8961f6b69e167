//! Server side: request parsing, the upgrade decision, fingerprint and client address.

use super::{
    has_token, head_status, header_slots, normalize_pathname, sec_websocket_accept, window,
    HandshakeError, HandshakeLimits,
};
use crate::error::ConfigError;
use crate::http::HttpResponse;
use crate::wire::js::querystring_unescape;
use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Version};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// What the server-side handshake accepts and how it reads the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// The Primus path (default `/primus`); a leading `/` is added if missing, as
    /// Primus does. Any request path that *starts with* it is ours
    /// (docs/protocol.md#path-and-plain-requests).
    pub pathname: String,
    /// The query parameter (and, with [`fingerprint_from_cookie`](Self::fingerprint_from_cookie),
    /// the cookie) that carries the session fingerprint (default `sessionID`,
    /// Actionhero's `fingerprintOptions.cookieKey`).
    pub cookie_key: String,
    /// Also read the fingerprint from the `Cookie` header when the query has none
    /// (default `false`: Actionhero ignores the Cookie header for websockets).
    pub fingerprint_from_cookie: bool,
    /// TCP peers whose `X-Forwarded-For`, `X-Forwarded-Port` and `X-Real-IP` headers
    /// are believed (default: loopback only, `127.0.0.0/8` and `::1`).
    ///
    /// Actionhero trusts these headers from every client, which lets anyone spoof
    /// their address; here they are read only when the TCP peer is in this list
    /// (an IPv4-mapped IPv6 peer is matched as IPv4). See
    /// [`trust_no_proxy`](Self::trust_no_proxy) and [`trust_any_proxy`](Self::trust_any_proxy).
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed to upgrade, compared ASCII case-insensitively with the
    /// `Origin` header (e.g. `https://app.example.com`); `None` (default) allows any,
    /// like Primus. A request without `Origin` is allowed even with a list: browsers
    /// always send it on WebSocket upgrades, and other clients can send anything.
    pub allowed_origins: Option<Vec<String>>,
    /// The heartbeat interval reported by `GET <pathname>/spec` (default 30 000 ms).
    pub ping_interval_ms: u64,
    /// Limits on the request head.
    pub limits: HandshakeLimits,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        Self {
            pathname: "/primus".to_owned(),
            cookie_key: "sessionID".to_owned(),
            fingerprint_from_cookie: false,
            trusted_proxies: vec![IpNet::LOOPBACK_V4, IpNet::LOOPBACK_V6],
            allowed_origins: None,
            ping_interval_ms: 30_000,
            limits: HandshakeLimits::default(),
        }
    }
}

impl HandshakeConfig {
    /// Believes no forwarding headers: the remote address is always the TCP peer.
    #[must_use]
    pub fn trust_no_proxy(mut self) -> Self {
        self.trusted_proxies = Vec::new();
        self
    }

    /// Believes forwarding headers from every peer, as Actionhero does. Only safe when
    /// every connection comes through a proxy that overwrites those headers.
    #[must_use]
    pub fn trust_any_proxy(mut self) -> Self {
        self.trusted_proxies = vec![IpNet::ANY_V4, IpNet::ANY_V6];
        self
    }
}

/// An IP network (address and prefix length), e.g. `10.0.0.0/8` or `::1/128`.
///
/// Parses from `addr` or `addr/len`; host bits beyond the prefix are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// `127.0.0.0/8`.
    pub const LOOPBACK_V4: Self = Self {
        addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
        prefix_len: 8,
    };
    /// `::1/128`.
    pub const LOOPBACK_V6: Self = Self {
        addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
        prefix_len: 128,
    };
    /// `0.0.0.0/0`: every IPv4 address.
    pub const ANY_V4: Self = Self {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: 0,
    };
    /// `::/0`: every IPv6 address.
    pub const ANY_V6: Self = Self {
        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        prefix_len: 0,
    };

    /// A network from an address and a prefix length.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] when `prefix_len` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, ConfigError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(ConfigError::InvalidValue {
                field: "trusted_proxies",
                reason: "prefix length exceeds the address length",
            });
        }
        Ok(Self { addr, prefix_len })
    }

    /// The network holding exactly `addr`.
    pub const fn host(addr: IpAddr) -> Self {
        let prefix_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self { addr, prefix_len }
    }

    /// The address part.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True when `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix_len,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix_len)
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpNet {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = ConfigError::InvalidValue {
            field: "trusted_proxies",
            reason: "expected an IP address or `address/prefix`",
        };
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad.clone())?;
        match len {
            None => Ok(Self::host(addr)),
            Some(len) => {
                let len: u8 = len.parse().map_err(|_| bad)?;
                Self::new(addr, len)
            }
        }
    }
}

/// An accepted upgrade: what the server needs to open the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session fingerprint: the first `?<cookie_key>=` query value (decoded like
    /// Node's `querystring`), else with `fingerprint_from_cookie` the cookie of that
    /// name; `None` when absent or empty (the server then uses the connection id).
    pub fingerprint: Option<String>,
    /// The client IP: the TCP peer's, or the forwarded one when the peer is a trusted
    /// proxy. IPv4 (also IPv4-mapped IPv6) as a dotted quad, IPv6 in compressed form.
    pub remote_ip: String,
    /// The client port: the TCP peer's, or the forwarded one when the peer is a
    /// trusted proxy and sent a valid one.
    pub remote_port: u16,
}

impl Handshake {
    /// A handshake for a peer address (tests, in-memory links).
    pub fn for_peer(peer: SocketAddr, fingerprint: Option<String>) -> Self {
        Self {
            fingerprint,
            remote_ip: peer.ip().to_canonical().to_string(),
            remote_port: peer.port(),
        }
    }
}

/// Result of [`parse_request`].
// Returned once per connection and consumed at once; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// The head is not complete yet; call again with more bytes.
    NeedMore,
    /// A complete request head.
    Complete {
        /// Method, target, version and headers (values kept as bytes); no body.
        request: Request<()>,
        /// Length of the head in `buf`; the bytes after it belong to the connection
        /// (a client may send its first frame right behind the request).
        consumed: usize,
    },
}

/// Two parses are equal when method, target, version, headers (in order) and
/// `consumed` are equal.
impl PartialEq for Parsed {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::NeedMore, Self::NeedMore) => true,
            (
                Self::Complete {
                    request: a,
                    consumed: ca,
                },
                Self::Complete {
                    request: b,
                    consumed: cb,
                },
            ) => {
                ca == cb
                    && a.method() == b.method()
                    && a.uri() == b.uri()
                    && a.version() == b.version()
                    && a.headers().iter().eq(b.headers().iter())
            }
            _ => false,
        }
    }
}

/// Parses an HTTP/1.x request head from the start of `buf`, incrementally: returns
/// [`Parsed::NeedMore`] until the head (through the empty line) is in `buf`; call
/// again with the grown buffer. The result is the same whether the bytes come whole
/// or in pieces.
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`] as soon as `buf` holds `limits.max_header_bytes`
/// bytes without a complete head, [`HandshakeError::TooManyHeaders`] beyond
/// `limits.max_headers` lines, [`HandshakeError::Malformed`] for invalid HTTP. Answer
/// any of them with [`reject_malformed`] and close.
pub fn parse_request(buf: &[u8], limits: &HandshakeLimits) -> Result<Parsed, HandshakeError> {
    let mut slots = header_slots(limits);
    let mut parsed = httparse::Request::new(&mut slots);
    let status = parsed.parse(window(buf, limits));
    let Some(consumed) = head_status(status, buf.len(), limits)? else {
        return Ok(Parsed::NeedMore);
    };
    let request = to_http(&parsed, limits)?;
    Ok(Parsed::Complete { request, consumed })
}

/// The outcome of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write `response` (`101 Switching Protocols`), then speak WebSocket and pass
    /// `handshake` to the server machine.
    Upgrade {
        /// The accepted connection's fingerprint and address.
        handshake: Handshake,
        /// The exact `101` response bytes.
        response: Vec<u8>,
    },
    /// Write `response` (a complete HTTP response with `Connection: close`), then
    /// close the socket.
    Respond {
        /// The HTTP status in `response`.
        status: u16,
        /// The exact response bytes.
        response: Vec<u8>,
    },
}

/// Decides what to answer to a complete request from TCP peer `peer`.
///
/// * A path not starting with the pathname → `404` (Actionhero leaves such upgrades
///   hanging; we answer so the adapter can close).
/// * No `Upgrade` header: `<pathname>/spec` → `200` with the Primus spec JSON (any
///   method, as Primus; no body for `HEAD`); anything else → `426 Upgrade Required`
///   with Primus's no-cache headers.
/// * With an `Upgrade` header, RFC 6455 checks: method `GET`, `Upgrade` holding
///   `websocket`, `Connection` holding `upgrade` (else `400`); exactly one
///   `Sec-WebSocket-Version: 13` (else `426` with `Sec-WebSocket-Version: 13`);
///   exactly one `Sec-WebSocket-Key` that is base64 of 16 bytes (else `400`); the
///   `Origin` against [`HandshakeConfig::allowed_origins`] (else `403`).
/// * Success → `101` with `Upgrade`, `Connection` and `Sec-WebSocket-Accept` only (no
///   subprotocol, no extension) and the [`Handshake`].
#[must_use]
pub fn evaluate(req: &Request<()>, peer: SocketAddr, config: &HandshakeConfig) -> Decision {
    match decide(req, peer, config) {
        Decided::Upgrade {
            handshake,
            response,
            ..
        } => Decision::Upgrade {
            handshake,
            response,
        },
        Decided::Respond(r) => Decision::Respond {
            status: r.status.as_u16(),
            response: r.to_bytes(),
        },
    }
}

/// [`evaluate`] with the refusal as an [`HttpResponse`] the router can add headers to.
pub(crate) enum Decided {
    Upgrade {
        handshake: Handshake,
        response: Vec<u8>,
        accept: String,
    },
    Respond(HttpResponse),
}

pub(crate) fn decide(req: &Request<()>, peer: SocketAddr, config: &HandshakeConfig) -> Decided {
    let pathname = normalize_pathname(&config.pathname);
    let path = req.uri().path();
    let head_only = req.method() == Method::HEAD;
    if !path.starts_with(pathname.as_str()) {
        return respond(StatusCode::NOT_FOUND, &[], "Not Found", head_only);
    }
    let headers = req.headers();
    if !headers.contains_key(header::UPGRADE) {
        if path.strip_prefix(pathname.as_str()) == Some("/spec") {
            return spec_response(&pathname, config.ping_interval_ms, head_only);
        }
        return respond(
            StatusCode::UPGRADE_REQUIRED,
            &[
                (
                    "Cache-Control",
                    "no-store, no-cache, must-revalidate, max-age=0",
                ),
                ("Pragma", "no-cache"),
            ],
            "Upgrade Required",
            head_only,
        );
    }
    if req.method() != Method::GET {
        return bad_request("Invalid HTTP method", head_only);
    }
    if !has_token(values(req, header::UPGRADE), "websocket") {
        return bad_request("Invalid Upgrade header", head_only);
    }
    if !has_token(values(req, header::CONNECTION), "upgrade") {
        return bad_request("Invalid Connection header", head_only);
    }
    if single(req, header::SEC_WEBSOCKET_VERSION).map(<[u8]>::trim_ascii) != Some(b"13") {
        return respond(
            StatusCode::UPGRADE_REQUIRED,
            &[("Sec-WebSocket-Version", "13")],
            "Unsupported Sec-WebSocket-Version",
            head_only,
        );
    }
    let Some(key) = single(req, header::SEC_WEBSOCKET_KEY).and_then(valid_key) else {
        return bad_request("Missing or invalid Sec-WebSocket-Key header", head_only);
    };
    if !origin_allowed(req, config.allowed_origins.as_deref()) {
        return respond(StatusCode::FORBIDDEN, &[], "Origin not allowed", head_only);
    }
    let (remote_ip, remote_port) = remote_address(req, peer, &config.trusted_proxies);
    let handshake = Handshake {
        fingerprint: fingerprint(req, config),
        remote_ip,
        remote_port,
    };
    let accept = sec_websocket_accept(key);
    let mut response = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in UPGRADE_HEADERS {
        response.push_str(name);
        response.push_str(": ");
        response.push_str(value);
        response.push_str("\r\n");
    }
    response.push_str("Sec-WebSocket-Accept: ");
    response.push_str(&accept);
    response.push_str("\r\n\r\n");
    Decided::Upgrade {
        handshake,
        response: response.into_bytes(),
        accept,
    }
}

/// The headers of every `101` besides `Sec-WebSocket-Accept` (no subprotocol, no
/// extension).
const UPGRADE_HEADERS: [(&str, &str); 2] = [("Upgrade", "websocket"), ("Connection", "Upgrade")];

/// The `101 Switching Protocols` answer to an accepted upgrade as an
/// [`http::Response`], for servers that write response heads themselves (hyper):
/// the same status and headers as the bytes of [`Decision::Upgrade`], with `accept`
/// (the route's `Sec-WebSocket-Accept` value, see
/// [`Route::Upgrade`](crate::http::Route::Upgrade)).
pub fn switching_protocols(accept: &str) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    for (name, value) in UPGRADE_HEADERS {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.append(name, HeaderValue::from_static(value));
        }
    }
    // Base64 is always a valid header value; anything else is left out (and the peer
    // refuses the upgrade).
    if let Ok(value) = HeaderValue::from_str(accept) {
        headers.append(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

/// The client address of a request from `peer`, per the configured trusted proxies.
pub(crate) fn client_address(
    req: &Request<()>,
    peer: SocketAddr,
    config: &HandshakeConfig,
) -> (String, u16) {
    remote_address(req, peer, &config.trusted_proxies)
}

/// The response to a head [`parse_request`] refused: `431 Request Header Fields Too
/// Large` for the size limits, `400 Bad Request` otherwise; `Connection: close`.
pub fn reject_malformed(err: &HandshakeError) -> Vec<u8> {
    let (status, body) = match err {
        HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ),
        _ => (StatusCode::BAD_REQUEST, "Bad Request"),
    };
    http_response(status, "text/plain", &[], body, false).to_bytes()
}

/// Builds the `http::Request` from a complete httparse head.
fn to_http(
    parsed: &httparse::Request<'_, '_>,
    limits: &HandshakeLimits,
) -> Result<Request<()>, HandshakeError> {
    let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes())
        .map_err(|_| HandshakeError::Malformed("invalid method"))?;
    let uri: http::Uri = parsed
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| HandshakeError::Malformed("invalid request target"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HandshakeError::Malformed("invalid HTTP version")),
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let map = request.headers_mut();
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HandshakeError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| HandshakeError::Malformed("invalid header value"))?;
        map.try_append(name, value)
            .map_err(|_| HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            })?;
    }
    Ok(request)
}

fn spec_response(pathname: &str, ping_interval_ms: u64, head_only: bool) -> Decided {
    let mut body = String::from("{\"pingInterval\":");
    body.push_str(itoa::Buffer::new().format(ping_interval_ms));
    body.push_str(",\"pathname\":");
    crate::wire::js::write_json_str(&mut body, pathname);
    body.push_str(",\"version\":\"8.0.9\",\"parser\":\"json\",\"transformer\":\"websockets\"}");
    Decided::Respond(http_response(
        StatusCode::OK,
        "application/json",
        &[],
        &body,
        head_only,
    ))
}

fn bad_request(body: &str, head_only: bool) -> Decided {
    respond(StatusCode::BAD_REQUEST, &[], body, head_only)
}

fn respond(
    status: StatusCode,
    extra: &[(&'static str, &str)],
    body: &str,
    head_only: bool,
) -> Decided {
    Decided::Respond(http_response(status, "text/plain", extra, body, head_only))
}

/// A complete `Connection: close` response: `Content-Type`, `extra`, then the length
/// and the body (left out for `HEAD`, length still given).
fn http_response(
    status: StatusCode,
    content_type: &str,
    extra: &[(&'static str, &str)],
    body: &str,
    head_only: bool,
) -> HttpResponse {
    let mut r = HttpResponse::new(status, body.to_owned()).header("Content-Type", content_type);
    for (name, value) in extra {
        r.headers.push((name, (*value).to_owned()));
    }
    if head_only {
        r.head_only();
    }
    r
}

fn values(req: &Request<()>, name: HeaderName) -> impl Iterator<Item = &[u8]> {
    req.headers()
        .get_all(name)
        .into_iter()
        .map(HeaderValue::as_bytes)
}

/// The value of a header that must appear exactly once.
fn single(req: &Request<()>, name: HeaderName) -> Option<&[u8]> {
    let mut all = values(req, name);
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

/// The trimmed key when it is base64 of exactly 16 bytes.
fn valid_key(raw: &[u8]) -> Option<&str> {
    let key = std::str::from_utf8(raw.trim_ascii()).ok()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
    (decoded.len() == 16).then_some(key)
}

fn origin_allowed(req: &Request<()>, allowed: Option<&[String]>) -> bool {
    let Some(allowed) = allowed else {
        return true;
    };
    let mut origins = values(req, header::ORIGIN);
    match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => allowed
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.trim_ascii())),
        (Some(_), Some(_)) => false,
    }
}

/// The fingerprint: query first, then (if enabled) the cookie; empty counts as absent.
fn fingerprint(req: &Request<()>, config: &HandshakeConfig) -> Option<String> {
    let from_query = req
        .uri()
        .query()
        .and_then(|q| node_query_first(q, &config.cookie_key))
        .filter(|v| !v.is_empty());
    if from_query.is_some() || !config.fingerprint_from_cookie {
        return from_query;
    }
    crate::http::request_cookie(req, &config.cookie_key).filter(|v| !v.is_empty())
}

/// Node's `querystring.parse(query)[key]`, except that a repeated key gives its FIRST
/// value (Node makes an array; Actionhero then stores the array as the fingerprint).
/// Pairs split on `&`, key from value on the first `=`, `+` and `%xx` decoded, at most
/// 1000 pairs read (Node's `maxKeys`).
fn node_query_first(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .take(1000)
        .filter(|piece| !piece.is_empty())
        .find_map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (querystring_unescape(k) == key).then(|| querystring_unescape(v))
        })
}

/// The client address per Actionhero's `parseHeadersForClientAddress` when the
/// peer is a trusted proxy, else the peer's. Where Actionhero would report something
/// that is not an address (garbage, `[::1]`, which crashes it, a bad port), the peer's
/// ip or port is used instead; so is the peer port when no forwarded port is given
/// (Actionhero reports 0 then). The first `X-Forwarded-For` element is trimmed. See
/// docs/protocol.md#client-address.
fn remote_address(req: &Request<()>, peer: SocketAddr, trusted: &[IpNet]) -> (String, u16) {
    let peer_ip = peer.ip().to_canonical();
    if !trusted.iter().any(|net| net.contains(peer_ip)) {
        return (peer_ip.to_string(), peer.port());
    }
    let first_non_empty = |name: &'static str| {
        req.headers()
            .get(name)
            .map(|v| v.as_bytes().trim_ascii())
            .filter(|v| !v.is_empty())
            .map(|v| std::str::from_utf8(v).ok())
    };
    let (mut ip, mut port) = (None, None);
    if let Some(xff) = first_non_empty("x-forwarded-for") {
        (ip, port) = xff.map_or((None, None), parse_forwarded_for);
    }
    if let Some(p) = first_non_empty("x-forwarded-port") {
        port = p.and_then(parse_port);
    }
    if let Some(real) = first_non_empty("x-real-ip") {
        ip = real.and_then(|r| r.parse::<IpAddr>().ok());
    }
    let ip = ip.map_or(peer_ip, |ip| ip.to_canonical());
    (ip.to_string(), port.unwrap_or(peer.port()))
}

/// The first `X-Forwarded-For` element as Actionhero reads it: IPv4 with optional
/// `:port` (after dropping one `::ffff:`), `[v6]:port`, or a bare IPv6 address with
/// port 80. `None` parts mean "use the peer's".
fn parse_forwarded_for(xff: &str) -> (Option<IpAddr>, Option<u16>) {
    let first = xff.split(',').next().unwrap_or("").trim();
    if first.contains('.') || !first.contains(':') {
        let v4 = first.replacen("::ffff:", "", 1);
        let mut parts = v4.split(':');
        let Some(Ok(ip)) = parts.next().map(str::parse::<Ipv4Addr>) else {
            return (None, None);
        };
        let port = parts.next().filter(|p| !p.is_empty()).and_then(parse_port);
        return (Some(IpAddr::V4(ip)), port);
    }
    if first.contains('[') || first.contains(']') {
        let parsed = first
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("]:"))
            .and_then(|(addr, port)| Some((addr.parse::<Ipv6Addr>().ok()?, parse_port(port)?)));
        return match parsed {
            Some((ip, port)) => (Some(IpAddr::V6(ip)), Some(port)),
            None => (None, None),
        };
    }
    match first.parse::<Ipv6Addr>() {
        Ok(ip) => (Some(IpAddr::V6(ip)), Some(80)),
        Err(_) => (None, None),
    }
}

/// A decimal port, 1 to 5 digits, at most 65535.
fn parse_port(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// True when the top `len` bits of `a` and `b` are equal.
fn prefix_eq(a: u128, b: u128, len: u8) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0);
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT_101: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn upgrade_req(target: &str, extra: &str) -> String {
        format!(
            "GET {target} HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
    }

    fn request(raw: &str) -> Request<()> {
        match parse_request(raw.as_bytes(), &HandshakeLimits::default()) {
            Ok(Parsed::Complete { request, consumed }) => {
                assert_eq!(consumed, raw.len());
                request
            }
            other => panic!("{other:?}"),
        }
    }

    fn decide_with(raw: &str, from: &str, config: &HandshakeConfig) -> Decision {
        evaluate(&request(raw), peer(from), config)
    }

    fn decide(raw: &str) -> Decision {
        decide_with(raw, "127.0.0.1:50000", &HandshakeConfig::default())
    }

    fn handshake_from(raw: &str, from: &str, config: &HandshakeConfig) -> Handshake {
        match decide_with(raw, from, config) {
            Decision::Upgrade {
                handshake,
                response,
            } => {
                assert_eq!(String::from_utf8(response).unwrap(), ACCEPT_101);
                handshake
            }
            other => panic!("{other:?}"),
        }
    }

    fn responded(d: Decision) -> (u16, String) {
        match d {
            Decision::Respond { status, response } => {
                (status, String::from_utf8(response).unwrap())
            }
            other => panic!("{other:?}"),
        }
    }

    fn text_response(code: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {code}\r\nContent-Type: text/plain\r\n{extra}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn parse_is_the_same_at_every_split() {
        let limits = HandshakeLimits::default();
        let head = upgrade_req(
            "/primus?sessionID=abc&_primuscb=Q8Ije8o",
            "X-Two: a\r\nX-Two: b\r\n",
        );
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(b"\x81\x85frame");
        let whole = parse_request(&bytes, &limits).unwrap();
        let Parsed::Complete { request, consumed } = &whole else {
            panic!("{whole:?}");
        };
        assert_eq!(*consumed, head.len());
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "/primus?sessionID=abc&_primuscb=Q8Ije8o");
        assert_eq!(request.version(), Version::HTTP_11);
        let two: Vec<_> = request.headers().get_all("x-two").iter().collect();
        assert_eq!(two, ["a", "b"]);
        for cut in 0..=bytes.len() {
            let got = parse_request(&bytes[..cut], &limits).unwrap();
            if cut < head.len() {
                assert_eq!(got, Parsed::NeedMore, "{cut}");
            } else {
                assert_eq!(got, whole, "{cut}");
            }
        }
    }

    #[test]
    fn header_values_are_kept_as_bytes() {
        let raw = b"GET /primus HTTP/1.1\r\nX-Bin: caf\xe9\r\n\r\n";
        let Ok(Parsed::Complete { request, .. }) = parse_request(raw, &HandshakeLimits::default())
        else {
            panic!()
        };
        assert_eq!(request.headers()["x-bin"].as_bytes(), b"caf\xe9");
    }

    #[test]
    fn parse_limits_and_malformed() {
        let head = upgrade_req("/primus", "");
        let exact = HandshakeLimits {
            max_header_bytes: head.len(),
            max_headers: 5,
        };
        assert!(matches!(
            parse_request(head.as_bytes(), &exact),
            Ok(Parsed::Complete { .. })
        ));
        let short = HandshakeLimits {
            max_header_bytes: head.len() - 1,
            max_headers: 5,
        };
        let too_large = Err(HandshakeError::HeadTooLarge {
            limit: head.len() - 1,
        });
        assert_eq!(parse_request(head.as_bytes(), &short), too_large);
        // The byte limit fires before the end of the head arrives, and on any split.
        assert_eq!(
            parse_request(&head.as_bytes()[..head.len() - 1], &short),
            too_large
        );
        assert_eq!(
            parse_request(&head.as_bytes()[..head.len() - 2], &short),
            Ok(Parsed::NeedMore)
        );
        let few = HandshakeLimits {
            max_header_bytes: 4096,
            max_headers: 4,
        };
        assert_eq!(
            parse_request(head.as_bytes(), &few),
            Err(HandshakeError::TooManyHeaders { limit: 4 })
        );
        // Endless headers or an endless line never grow past the limit.
        let flood = "GET / HTTP/1.1\r\n".to_owned() + &"a: b\r\n".repeat(5000);
        assert_eq!(
            parse_request(flood.as_bytes(), &HandshakeLimits::default()),
            Err(HandshakeError::TooManyHeaders { limit: 64 })
        );
        let line = "GET /".to_owned() + &"a".repeat(20_000);
        assert_eq!(
            parse_request(line.as_bytes(), &HandshakeLimits::default()),
            Err(HandshakeError::HeadTooLarge { limit: 16 * 1024 })
        );
        for bad in [
            "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G\x01T / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse_request(bad.as_bytes(), &HandshakeLimits::default()),
                    Err(HandshakeError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reject_malformed_responses() {
        assert_eq!(
            String::from_utf8(reject_malformed(&HandshakeError::HeadTooLarge { limit: 1 }))
                .unwrap(),
            text_response(
                "431 Request Header Fields Too Large",
                "",
                "Request Header Fields Too Large"
            )
        );
        assert_eq!(
            String::from_utf8(reject_malformed(&HandshakeError::TooManyHeaders {
                limit: 1
            }))
            .unwrap()
            .split_once("\r\n")
            .unwrap()
            .0,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert_eq!(
            String::from_utf8(reject_malformed(&HandshakeError::Malformed("x"))).unwrap(),
            text_response("400 Bad Request", "", "Bad Request")
        );
    }

    #[test]
    fn upgrade_gives_the_rfc_accept_and_nothing_else() {
        let hs = handshake_from(
            &upgrade_req("/primus?_primuscb=Q8Ije8o", ""),
            "10.1.2.3:4444",
            &HandshakeConfig::default(),
        );
        assert_eq!(
            hs,
            Handshake {
                fingerprint: None,
                remote_ip: "10.1.2.3".into(),
                remote_port: 4444
            }
        );
        // Prefix matching like Primus, with the query excluded; lenient tokens.
        for target in [
            "/primus",
            "/primus/x/y",
            "/primusfoo",
            "/primus/spec",
            "http://h/primus",
        ] {
            handshake_from(
                &upgrade_req(target, ""),
                "127.0.0.1:1",
                &HandshakeConfig::default(),
            );
        }
        let lenient = "GET /primus HTTP/1.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
                       sec-websocket-version:  13 \r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        handshake_from(lenient, "127.0.0.1:1", &HandshakeConfig::default());
    }

    #[test]
    fn switching_protocols_is_the_same_head_as_the_bytes() {
        let req = request(&upgrade_req("/primus", ""));
        let Decided::Upgrade {
            response, accept, ..
        } = super::decide(&req, peer("127.0.0.1:1"), &HandshakeConfig::default())
        else {
            panic!("not an upgrade");
        };
        assert_eq!(String::from_utf8(response).unwrap(), ACCEPT_101);
        let head = switching_protocols(&accept);
        assert_eq!(head.status(), StatusCode::SWITCHING_PROTOCOLS);
        let headers: Vec<(String, String)> = head
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let expected = [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(headers, expected);
    }

    #[test]
    fn not_our_path_is_404() {
        let (status, resp) = responded(decide(&upgrade_req("/api", "")));
        assert_eq!(status, 404);
        assert_eq!(resp, text_response("404 Not Found", "", "Not Found"));
        assert_eq!(responded(decide("GET /?/primus HTTP/1.1\r\n\r\n")).0, 404);
        assert_eq!(responded(decide("GET /prim HTTP/1.1\r\n\r\n")).0, 404);
    }

    #[test]
    fn spec_is_exact() {
        let body = r#"{"pingInterval":30000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#;
        let expected = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, resp) = responded(decide("GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!((status, resp.as_str()), (200, expected.as_str()));
        // Primus answers the spec for any method; HEAD gets no body.
        let (_, resp) = responded(decide("HEAD /primus/spec?x=1 HTTP/1.1\r\n\r\n"));
        assert_eq!(resp, expected.strip_suffix(body).unwrap());
        // pathname and pingInterval come from the config; the leading slash is added.
        let config = HandshakeConfig {
            pathname: "realtime".into(),
            ping_interval_ms: 25_000,
            ..HandshakeConfig::default()
        };
        let (_, resp) = responded(decide_with(
            "GET /realtime/spec HTTP/1.1\r\n\r\n",
            "127.0.0.1:1",
            &config,
        ));
        assert!(resp.ends_with(r#"{"pingInterval":25000,"pathname":"/realtime","version":"8.0.9","parser":"json","transformer":"websockets"}"#));
        // Only the exact spec path.
        assert_eq!(
            responded(decide("GET /primus/spec/x HTTP/1.1\r\n\r\n")).0,
            426
        );
    }

    #[test]
    fn plain_http_under_the_prefix_is_426() {
        let expected = text_response(
            "426 Upgrade Required",
            "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\nPragma: no-cache\r\n",
            "Upgrade Required",
        );
        for raw in [
            "GET /primus HTTP/1.1\r\n\r\n",
            "POST /primusfoo HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            // Connection: upgrade without an Upgrade header is not an upgrade (as in Node).
            "GET /primus/x HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
        ] {
            assert_eq!(responded(decide(raw)), (426, expected.clone()), "{raw}");
        }
    }

    #[test]
    fn bad_upgrades_are_400() {
        let cases = [
            (
                upgrade_req("/primus", "").replacen("GET", "POST", 1),
                "Invalid HTTP method",
            ),
            (
                upgrade_req("/primus", "").replace("Upgrade: websocket", "Upgrade: h2c"),
                "Invalid Upgrade header",
            ),
            (upgrade_req("/primus", "Upgrade: websocket\r\n"), "__ok__"),
            (
                upgrade_req("/primus", "").replace("Connection: Upgrade", "Connection: keep-alive"),
                "Invalid Connection header",
            ),
            (
                upgrade_req("/primus", "").replace(KEY, "dGhlIHNhbXBsZSBub25jZQ"),
                "Missing or invalid Sec-WebSocket-Key header",
            ),
            (
                upgrade_req("/primus", "").replace(KEY, "AAAAAAAAAAAAAAAAAAAAAAAA"),
                "Missing or invalid Sec-WebSocket-Key header",
            ),
            (
                upgrade_req("/primus", "").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
                "Missing or invalid Sec-WebSocket-Key header",
            ),
            (
                upgrade_req("/primus", &format!("Sec-WebSocket-Key: {KEY}\r\n")),
                "Missing or invalid Sec-WebSocket-Key header",
            ),
        ];
        for (raw, body) in cases {
            let d = decide(&raw);
            if body == "__ok__" {
                assert!(matches!(d, Decision::Upgrade { .. }), "{raw}");
                continue;
            }
            assert_eq!(
                responded(d),
                (400, text_response("400 Bad Request", "", body)),
                "{raw}"
            );
        }
    }

    #[test]
    fn wrong_version_is_426_with_version_header() {
        let expected = text_response(
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "Unsupported Sec-WebSocket-Version",
        );
        for raw in [
            upgrade_req("/primus", "").replace("Version: 13", "Version: 8"),
            upgrade_req("/primus", "").replace("Sec-WebSocket-Version: 13\r\n", ""),
            upgrade_req("/primus", "Sec-WebSocket-Version: 13\r\n"),
        ] {
            assert_eq!(responded(decide(&raw)), (426, expected.clone()), "{raw}");
        }
    }

    #[test]
    fn origin_allow_list() {
        let config = HandshakeConfig {
            allowed_origins: Some(vec!["https://app.example.com".into()]),
            ..HandshakeConfig::default()
        };
        let ok = upgrade_req("/primus", "Origin: https://APP.example.com\r\n");
        handshake_from(&ok, "127.0.0.1:1", &config);
        // No Origin: not a browser; allowed.
        handshake_from(&upgrade_req("/primus", ""), "127.0.0.1:1", &config);
        let forbidden = text_response("403 Forbidden", "", "Origin not allowed");
        for extra in [
            "Origin: https://evil.example\r\n",
            "Origin: https://app.example.com\r\nOrigin: https://app.example.com\r\n",
        ] {
            let raw = upgrade_req("/primus", extra);
            assert_eq!(
                responded(decide_with(&raw, "127.0.0.1:1", &config)),
                (403, forbidden.clone())
            );
        }
        // Without a list any Origin upgrades, as in Primus.
        handshake_from(
            &upgrade_req("/primus", "Origin: foo\r\n"),
            "127.0.0.1:1",
            &HandshakeConfig::default(),
        );
    }

    fn address(extra: &str, from: &str, config: &HandshakeConfig) -> (String, u16) {
        let hs = handshake_from(&upgrade_req("/primus", extra), from, config);
        (hs.remote_ip, hs.remote_port)
    }

    #[test]
    fn forwarded_headers_from_a_trusted_proxy() {
        let c = HandshakeConfig::default();
        let p = "127.0.0.1:40000";
        let cases: &[(&str, (&str, u16))] = &[
            ("", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n", ("1.2.3.4", 40000)),
            ("X-Forwarded-For: 1.2.3.4:5555\r\n", ("1.2.3.4", 5555)),
            (
                "X-Forwarded-For: ::ffff:1.2.3.4:5555\r\n",
                ("1.2.3.4", 5555),
            ),
            ("X-Forwarded-For: 2001:db8::1\r\n", ("2001:db8::1", 80)),
            (
                "X-Forwarded-For: [2001:db8::1]:4444\r\n",
                ("2001:db8::1", 4444),
            ),
            ("X-Real-IP: 9.9.9.9\r\n", ("9.9.9.9", 40000)),
            (
                "X-Forwarded-For: 1.2.3.4:5555\r\nX-Real-IP: 9.9.9.9\r\n",
                ("9.9.9.9", 5555),
            ),
            ("X-Forwarded-Port: 1234\r\n", ("127.0.0.1", 1234)),
            (
                "X-Forwarded-For: 1.2.3.4:5555\r\nX-Forwarded-Port: 1234\r\n",
                ("1.2.3.4", 1234),
            ),
            // Repeated: the first header line wins.
            (
                "X-Forwarded-For: 5.5.5.5\r\nX-Forwarded-For: 6.6.6.6\r\n",
                ("5.5.5.5", 40000),
            ),
            // Odd forms fall back to the peer instead of crashing or reporting garbage.
            ("X-Forwarded-For: [::1]\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: [::1]:99999\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: x[::1]:80\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: unknown\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: \r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: ,1.2.3.4\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: 1.2.3.4:abc\r\n", ("1.2.3.4", 40000)),
            ("X-Forwarded-For: 1.2.3.4:70000\r\n", ("1.2.3.4", 40000)),
            (
                "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Port: 65536\r\n",
                ("1.2.3.4", 40000),
            ),
            (
                "X-Forwarded-For: 1.2.3.4:77\r\nX-Forwarded-Port: -1\r\n",
                ("1.2.3.4", 40000),
            ),
            (
                "X-Real-IP: nope\r\nX-Forwarded-For: 1.2.3.4\r\n",
                ("127.0.0.1", 40000),
            ),
            ("X-Forwarded-For: fe80::1%eth0\r\n", ("127.0.0.1", 40000)),
            ("X-Forwarded-For: ::ffff:7.7.7.7\r\n", ("7.7.7.7", 40000)),
        ];
        for (extra, (ip, port)) in cases {
            assert_eq!(address(extra, p, &c), (ip.to_string(), *port), "{extra:?}");
        }
        let huge = format!("X-Forwarded-For: {}\r\n", "1".repeat(10_000));
        assert_eq!(address(&huge, p, &c), ("127.0.0.1".into(), 40000));
        let bin = b"GET /primus HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                    X-Forwarded-For: 1.2.3.\xff\r\n\r\n";
        let Ok(Parsed::Complete { request, .. }) = parse_request(bin, &HandshakeLimits::default())
        else {
            panic!()
        };
        let Decision::Upgrade { handshake, .. } = evaluate(&request, peer(p), &c) else {
            panic!()
        };
        assert_eq!(
            (handshake.remote_ip.as_str(), handshake.remote_port),
            ("127.0.0.1", 40000)
        );
        // An IPv6 loopback proxy and an IPv4-mapped loopback proxy are trusted too.
        let xff = "X-Forwarded-For: 1.2.3.4\r\n";
        assert_eq!(address(xff, "[::1]:5", &c).0, "1.2.3.4");
        assert_eq!(address(xff, "[::ffff:127.0.0.1]:5", &c).0, "1.2.3.4");
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let spoof =
            "X-Forwarded-For: 1.2.3.4:5555\r\nX-Forwarded-Port: 1\r\nX-Real-IP: 9.9.9.9\r\n";
        let c = HandshakeConfig::default();
        assert_eq!(
            address(spoof, "203.0.113.7:6000", &c),
            ("203.0.113.7".into(), 6000)
        );
        assert_eq!(
            address(spoof, "[2001:db8::7]:6000", &c),
            ("2001:db8::7".into(), 6000)
        );
        // IPv4-mapped peers are reported as a dotted quad.
        assert_eq!(
            address("", "[::ffff:203.0.113.7]:6000", &c),
            ("203.0.113.7".into(), 6000)
        );
        let none = HandshakeConfig::default().trust_no_proxy();
        assert_eq!(
            address(spoof, "127.0.0.1:6000", &none),
            ("127.0.0.1".into(), 6000)
        );
        let any = HandshakeConfig::default().trust_any_proxy();
        assert_eq!(
            address(spoof, "203.0.113.7:6000", &any),
            ("9.9.9.9".into(), 1)
        );
        let lan = HandshakeConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..HandshakeConfig::default()
        };
        assert_eq!(address(spoof, "10.9.8.7:6000", &lan), ("9.9.9.9".into(), 1));
        assert_eq!(
            address(spoof, "11.0.0.1:6000", &lan),
            ("11.0.0.1".into(), 6000)
        );
    }

    #[test]
    fn ip_nets() {
        let net: IpNet = "10.1.2.3/8".parse().unwrap();
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.0".parse().unwrap()));
        assert!(!net.contains("::a01:203".parse().unwrap()));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
        let host: IpNet = "::1".parse().unwrap();
        assert_eq!(host, IpNet::LOOPBACK_V6);
        assert_eq!(host.to_string(), "::1/128");
        assert!(IpNet::ANY_V4.contains("1.2.3.4".parse().unwrap()));
        assert!(IpNet::ANY_V6.contains("::".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "x", "1.2.3.4/", "1.2.3.4/-1"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        assert_eq!(
            IpNet::new("1.2.3.4".parse().unwrap(), 32)
                .unwrap()
                .prefix_len(),
            32
        );
    }

    fn fp(target: &str, extra: &str, config: &HandshakeConfig) -> Option<String> {
        handshake_from(&upgrade_req(target, extra), "127.0.0.1:1", config).fingerprint
    }

    #[test]
    fn fingerprint_from_the_query() {
        let c = HandshakeConfig::default();
        assert_eq!(
            fp("/primus?sessionID=a%20b+c", "", &c).as_deref(),
            Some("a b c")
        );
        assert_eq!(
            fp("/primus?sessionID=a&sessionID=b", "", &c).as_deref(),
            Some("a")
        );
        assert_eq!(
            fp("/primus?x=1&&sessionID=q=r&_primuscb=z", "", &c).as_deref(),
            Some("q=r")
        );
        assert_eq!(fp("/primus?session%49D=k", "", &c).as_deref(), Some("k"));
        assert_eq!(
            fp("/primus?sessionID=%zz%4", "", &c).as_deref(),
            Some("%zz%4")
        );
        assert_eq!(
            fp("/primus?sessionID=%ff", "", &c).as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(fp("/primus?sessionid=a", "", &c), None);
        assert_eq!(fp("/primus?sessionID=", "", &c), None);
        assert_eq!(fp("/primus?sessionID", "", &c), None);
        assert_eq!(fp("/primus", "", &c), None);
        let custom = HandshakeConfig {
            cookie_key: "sid".into(),
            ..HandshakeConfig::default()
        };
        assert_eq!(
            fp("/primus?sessionID=a&sid=b", "", &custom).as_deref(),
            Some("b")
        );
        // Node's maxKeys: pairs after the 1000th are not read.
        let late = format!("/primus?{}sessionID=late", "a=1&".repeat(1000));
        assert_eq!(fp(&late, "", &c), None);
        let in_time = format!("/primus?{}sessionID=ok", "a=1&".repeat(999));
        assert_eq!(fp(&in_time, "", &c).as_deref(), Some("ok"));
    }

    #[test]
    fn fingerprint_from_the_cookie_only_when_enabled() {
        let cookie = "Cookie: other=1; sessionID=fromcookie\r\n";
        assert_eq!(fp("/primus", cookie, &HandshakeConfig::default()), None);
        let c = HandshakeConfig {
            fingerprint_from_cookie: true,
            ..HandshakeConfig::default()
        };
        assert_eq!(fp("/primus", cookie, &c).as_deref(), Some("fromcookie"));
        assert_eq!(fp("/primus?sessionID=q", cookie, &c).as_deref(), Some("q"));
        assert_eq!(
            fp("/primus?sessionID=", cookie, &c).as_deref(),
            Some("fromcookie")
        );
        assert_eq!(
            fp(
                "/primus",
                "Cookie: a=1\r\nCookie: =x; sessionID=second\r\n",
                &c
            )
            .as_deref(),
            Some("second")
        );
        assert_eq!(fp("/primus", "Cookie: sessionID=\r\n", &c), None);
        assert_eq!(fp("/primus", "Cookie: garbage\r\n", &c), None);
    }

    #[test]
    fn for_peer_reports_ipv4_plainly() {
        let hs = Handshake::for_peer(peer("[::ffff:10.0.0.1]:9"), Some("f".into()));
        assert_eq!(hs.remote_ip, "10.0.0.1");
        assert_eq!(hs.remote_port, 9);
    }

    #[test]
    fn upgrade_response_passes_the_client_check() {
        let up = crate::handshake::client_upgrade(
            "http://localhost:8080",
            "/primus",
            "sessionID",
            Some("abc"),
            *b"0123456789abcdef",
            "cb",
        )
        .unwrap();
        let req = std::str::from_utf8(&up.request).unwrap();
        let Decision::Upgrade {
            handshake,
            response,
        } = decide_with(req, "127.0.0.1:3", &HandshakeConfig::default())
        else {
            panic!()
        };
        assert_eq!(handshake.fingerprint.as_deref(), Some("abc"));
        assert_eq!(
            crate::handshake::parse_response(
                &response,
                &up.expected_accept,
                &HandshakeLimits::default()
            ),
            Ok(crate::handshake::ResponseParsed::Complete {
                consumed: response.len()
            })
        );
    }
}
