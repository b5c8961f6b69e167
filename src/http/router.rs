//! Which route answers an HTTP request: the one decision an adapter asks for every
//! request head it reads (docs/protocol.md#http-routes).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode, Version};
use serde_json::{Map, Value};

use super::cors::{self, CorsConfig, PrimusCors};
use super::files::{FileLookup, PublicFile, DEFAULT_MAX_FILE_LEN, DIRECTORY_INDEX};
use super::fingerprint::{web_fingerprint, FingerprintConfig};
use super::library::{self, ClientLibraryConfig, ClientUrl};
use super::HttpResponse;
use crate::error::ConfigError;
use crate::handshake::{self, Decided, Handshake, HandshakeConfig};
use crate::wire::js;

/// Where the generated client library is served (under the public path), whatever the
/// public directory holds: Actionhero writes it there at boot; we serve it from memory.
pub const CLIENT_LIBRARY_FILE: &str = "javascript/ActionheroWebsocketClient.js";

/// What `/` serves (Actionhero's `web.rootEndpointType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RootEndpoint {
    /// Static files: `/` is the public directory's `index.html`, `/x` its file `x`.
    #[default]
    File,
    /// Actions: `/NAME` runs action `NAME`.
    Api,
}

/// The web side's settings (Actionhero's `config.web` and `config.websocket.client`).
#[derive(Clone, Debug, PartialEq)]
pub struct WebConfig {
    /// Path prefix of actions (`urlPathForActions`, default `/api`).
    pub api_path: String,
    /// Path prefix of static files (`urlPathForFiles`, default `/public`); `None`
    /// serves no file under a prefix (the root endpoint may still serve files).
    pub public_path: Option<String>,
    /// What `/` and unprefixed paths serve (default [`RootEndpoint::File`]).
    pub root_endpoint: RootEndpoint,
    /// The public directory, canonical (the adapter canonicalizes it once); `None`:
    /// every static file is not found (the client library is still served).
    pub public_dir: Option<PathBuf>,
    /// Cross-origin policy of the web routes and of plain HTTP under the Primus path.
    pub cors: CorsConfig,
    /// The fingerprint cookie.
    pub fingerprint: FingerprintConfig,
    /// `X-Powered-By` and `serverInformation.serverName` (default `actionhero`).
    pub server_name: String,
    /// `serverInformation.apiVersion` (default `29.3.5`: Actionhero reports its
    /// project's package version, which is Actionhero's own in a stock setup).
    pub api_version: String,
    /// `Cache-Control: max-age=` of static files, seconds (default 60).
    pub file_cache_secs: u64,
    /// Largest request body read for an action (default 1 MiB); larger gets `413`.
    pub max_body_len: usize,
    /// Largest static file served (default 16 MiB); larger ones are not found.
    pub max_file_len: u64,
    /// Seconds a kept-alive connection waits for its next request (default 5, Node's).
    pub keep_alive_secs: u32,
    /// Also route `/api?action=NAME` (older Actionhero; version 29 answers it 404,
    /// which breaks its own client's HTTP fallback). Default `true`.
    pub query_action_routing: bool,
    /// The generated client library's `url` (default `window.location.origin`).
    pub client_url: ClientUrl,
    /// Extra client options written into the library's defaults, in order (for
    /// example `timeout`, `reconnect`).
    pub client_options: Map<String, Value>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            api_path: "/api".to_owned(),
            public_path: Some("/public".to_owned()),
            root_endpoint: RootEndpoint::File,
            public_dir: None,
            cors: CorsConfig::default(),
            fingerprint: FingerprintConfig::default(),
            server_name: "actionhero".to_owned(),
            api_version: crate::samples::STATUS_VERSION.to_owned(),
            file_cache_secs: 60,
            max_body_len: 1024 * 1024,
            max_file_len: DEFAULT_MAX_FILE_LEN,
            keep_alive_secs: 5,
            query_action_routing: true,
            client_url: ClientUrl::WindowOrigin,
            client_options: Map::new(),
        }
    }
}

/// The request facts the adapter supplies with each head.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Wall-clock epoch milliseconds now (dates, cookie expiry).
    pub now_ms: u64,
    /// Fresh random bytes (a new fingerprint when the request has none).
    pub entropy: [u8; 16],
}

/// The decision for one request head.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per request, consumed at once
pub enum Route {
    /// A WebSocket upgrade: write `response` (`101`), speak WebSocket, and pass
    /// `handshake` to the server machine.
    Upgrade {
        /// Fingerprint and address of the connection.
        handshake: Handshake,
        /// The exact `101` bytes.
        response: Vec<u8>,
        /// The `Sec-WebSocket-Accept` value in `response`: a server that writes heads
        /// itself (hyper) answers with
        /// [`switching_protocols`](crate::handshake::switching_protocols)`(&accept)`.
        accept: String,
    },
    /// Write this response.
    Respond(HttpResponse),
    /// A static file: drive [`StaticFile::lookup`] with file metadata, then answer.
    File(StaticFile),
    /// An action: read [`ApiRequest::body_len`] body bytes, then hand the request to
    /// the server machine (`Server::handle_api`).
    Action(ApiRequest),
}

/// The router: an immutable decision table built once from the configuration, shared
/// by every connection (it holds the rendered client library). It counts its decisions
/// ([`Router::stats`]); a clone starts with the counts of the original.
#[derive(Clone, Debug)]
pub struct Router {
    handshake: HandshakeConfig,
    web: WebConfig,
    pathname: String,
    /// `api_path` and `public_path` split into their parts, once.
    api_parts: Vec<String>,
    public_parts: Vec<String>,
    library: Bytes,
    primus_js: Bytes,
    library_etag: String,
    library_modified_ms: u64,
    counters: RouteCounters,
}

/// What the router has decided, by route (a snapshot of [`Router::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// WebSocket upgrades accepted ([`Route::Upgrade`]).
    pub upgrades: u64,
    /// Upgrade requests refused, by the HTTP status they were answered with (`400` bad
    /// handshake, `403` origin not allowed, `404` wrong path, `426` unsupported
    /// version; each present, zero or not; any other status would count under `0`).
    pub upgrade_rejections: BTreeMap<u16, u64>,
    /// Requests answered from memory ([`Route::Respond`]: the Primus endpoints, the
    /// client library, CORS preflights, refusals), rejected upgrades included.
    pub responses: u64,
    /// Static file requests ([`Route::File`]).
    pub files: u64,
    /// Action requests over HTTP ([`Route::Action`]).
    pub actions: u64,
}

/// The statuses [`RouterStats::upgrade_rejections`] counts apart; any other lands on 0.
const REJECTION_STATUSES: [u16; 4] = [400, 403, 404, 426];

/// The router's counters: atomics, because one router serves every connection by
/// shared reference.
#[derive(Debug, Default)]
struct RouteCounters {
    upgrades: AtomicU64,
    responses: AtomicU64,
    files: AtomicU64,
    actions: AtomicU64,
    /// By [`REJECTION_STATUSES`] index, then any other status.
    rejections: [AtomicU64; REJECTION_STATUSES.len() + 1],
}

impl Clone for RouteCounters {
    fn clone(&self) -> Self {
        let copy = |a: &AtomicU64| AtomicU64::new(a.load(Ordering::Relaxed));
        Self {
            upgrades: copy(&self.upgrades),
            responses: copy(&self.responses),
            files: copy(&self.files),
            actions: copy(&self.actions),
            rejections: std::array::from_fn(|i| {
                self.rejections.get(i).map_or_else(AtomicU64::default, copy)
            }),
        }
    }
}

impl RouteCounters {
    fn count(&self, route: &Route, upgrade_requested: bool) {
        let counter = match route {
            Route::Upgrade { .. } => &self.upgrades,
            Route::Respond(r) => {
                if upgrade_requested {
                    let status = r.status.as_u16();
                    let i = REJECTION_STATUSES
                        .iter()
                        .position(|&s| s == status)
                        .unwrap_or(REJECTION_STATUSES.len());
                    if let Some(c) = self.rejections.get(i) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
                &self.responses
            }
            Route::File(_) => &self.files,
            Route::Action(_) => &self.actions,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RouterStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let statuses = REJECTION_STATUSES.iter().copied().chain([0]);
        let upgrade_rejections = statuses
            .zip(&self.rejections)
            .map(|(status, n)| (status, load(n)))
            .filter(|&(status, n)| status != 0 || n > 0)
            .collect();
        RouterStats {
            upgrades: load(&self.upgrades),
            upgrade_rejections,
            responses: load(&self.responses),
            files: load(&self.files),
            actions: load(&self.actions),
        }
    }
}

impl Router {
    /// Builds the router and renders the client library. `started_ms` (epoch ms) dates
    /// the in-memory library, as the file Actionhero writes at boot is dated.
    ///
    /// # Errors
    /// [`ConfigError`] for a path setting that does not start with `/`.
    pub fn new(
        handshake: HandshakeConfig,
        web: WebConfig,
        started_ms: u64,
    ) -> Result<Self, ConfigError> {
        for (field, path) in [
            ("api_path", Some(&web.api_path)),
            ("public_path", web.public_path.as_ref()),
        ] {
            if path.is_some_and(|p| !p.starts_with('/')) {
                return Err(ConfigError::InvalidValue {
                    field,
                    reason: "must start with `/`",
                });
            }
        }
        let pathname = handshake::normalize_pathname(&handshake.pathname);
        let ping = Some(handshake.ping_interval_ms)
            .filter(|&ms| ms > 0)
            .map(std::time::Duration::from_millis);
        let library_config = ClientLibraryConfig {
            pathname: pathname.clone(),
            ping_interval: ping,
            url: web.client_url.clone(),
            api_path: web.api_path.clone(),
            cookie_key: handshake.cookie_key.clone(),
            options: web.client_options.clone(),
        };
        let library = Bytes::from(library::client_library(&library_config));
        let primus_js = Bytes::from(library::primus_library(&pathname, ping));
        let library_etag = weak_etag(library.len() as u64, started_ms);
        let parts = |p: &str| -> Vec<String> {
            p.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(Self {
            api_parts: parts(&web.api_path),
            public_parts: web.public_path.as_deref().map(parts).unwrap_or_default(),
            handshake,
            web,
            pathname,
            library,
            primus_js,
            library_etag,
            library_modified_ms: started_ms,
            counters: RouteCounters::default(),
        })
    }

    /// The handshake configuration.
    pub fn handshake_config(&self) -> &HandshakeConfig {
        &self.handshake
    }

    /// The web configuration.
    pub fn web_config(&self) -> &WebConfig {
        &self.web
    }

    /// The `file` verb's lookup of `file` under the public directory, with the same
    /// size limit as HTTP static files (`None`: no public directory, or a path that is
    /// never served). Finish it with [`files::verb_outcome`](super::files::verb_outcome).
    pub fn file_lookup(&self, file: &str) -> Option<FileLookup> {
        let root = self.web.public_dir.as_deref()?;
        FileLookup::start(root, file, self.web.max_file_len)
    }

    /// The rendered client library (what [`CLIENT_LIBRARY_FILE`] serves).
    pub fn client_library(&self) -> &Bytes {
        &self.library
    }

    /// What the router has decided so far, by route.
    pub fn stats(&self) -> RouterStats {
        self.counters.snapshot()
    }

    /// Decides how to answer a complete request head (and counts the decision).
    pub fn route(&self, req: &Request<()>, ctx: &RequestContext) -> Route {
        let route = self.decide(req, ctx);
        let upgrade_requested = req.headers().contains_key(header::UPGRADE);
        self.counters.count(&route, upgrade_requested);
        route
    }

    fn decide(&self, req: &Request<()>, ctx: &RequestContext) -> Route {
        let path = req.uri().path();
        if path.starts_with(self.pathname.as_str()) {
            return self.primus(req, ctx);
        }
        let keep_alive = wants_keep_alive(req);
        let head = req.method() == Method::HEAD;
        if req.headers().contains_key(header::UPGRADE) {
            // Upgrades elsewhere: Actionhero leaves them hanging; we answer and close.
            let r = HttpResponse::new(StatusCode::NOT_FOUND, "Not Found")
                .header("Content-Type", "text/plain");
            return Route::Respond(r);
        }
        let cors = match cors::web(req.method(), req.headers(), &self.web.cors) {
            Ok(c) => c,
            Err(mut r) => {
                r.date = Some(crate::time::http_date(ctx.now_ms));
                r.keep_alive = keep_alive;
                r.keep_alive_secs = self.web.keep_alive_secs;
                if head {
                    r.head_only();
                }
                return Route::Respond(r);
            }
        };
        let fp = web_fingerprint(
            req,
            &self.handshake.cookie_key,
            &self.web.fingerprint,
            ctx.now_ms,
            ctx.entropy,
        );
        let common = WebHeaders::new(&self.web, cors, fp.set_cookie, ctx.now_ms, keep_alive);
        let target = self.web_target(path);
        if req.method() == Method::OPTIONS {
            return Route::Respond(common.json(StatusCode::OK, Bytes::new(), false));
        }
        match target {
            WebTarget::Api(rest) => {
                let query = req.uri().query().unwrap_or("");
                let action = match rest.first() {
                    Some(name) => Some(percent_decode(name)),
                    None if self.web.query_action_routing => query_action(query),
                    None => None,
                };
                let body_len = match content_length(req.headers()) {
                    Ok(n) => n,
                    Err(status) => {
                        let r = HttpResponse::new(status, Bytes::new())
                            .header("Content-Type", "text/plain");
                        return Route::Respond(r);
                    }
                };
                if body_len > self.web.max_body_len {
                    // Not kept alive: the unread body would be taken for the next request.
                    let r = HttpResponse::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
                        .header("Content-Type", "text/plain");
                    return Route::Respond(r);
                }
                let (remote_ip, remote_port) =
                    handshake::client_address(req, ctx.peer, &self.handshake);
                let body_kind = if req.method() == Method::GET || req.method() == Method::HEAD {
                    BodyKind::Ignored
                } else {
                    match req
                        .headers()
                        .get(header::CONTENT_TYPE)
                        .map(|v| v.as_bytes())
                    {
                        None => BodyKind::Ignored,
                        Some(ct) => BodyKind::of(ct),
                    }
                };
                Route::Action(ApiRequest {
                    action,
                    query: query.to_owned(),
                    body_len,
                    body_kind,
                    fingerprint: fp.fingerprint,
                    remote_ip,
                    remote_port,
                    headers: common,
                    head,
                    server_name: self.web.server_name.clone(),
                    api_version: self.web.api_version.clone(),
                })
            }
            WebTarget::File(rest) => {
                let mut file = rest.join("/");
                if file.is_empty() || path.ends_with('/') {
                    if !file.is_empty() {
                        file.push('/');
                    }
                    file.push_str(DIRECTORY_INDEX);
                }
                let file = percent_decode(&file);
                let conditional = Conditional::of(req.headers());
                let sf = StaticFile {
                    lookup: None,
                    headers: common,
                    conditional,
                    head,
                    cache_secs: self.web.file_cache_secs,
                };
                if file == CLIENT_LIBRARY_FILE {
                    return Route::Respond(sf.in_memory(
                        &self.library,
                        "application/javascript",
                        self.library_modified_ms,
                        &self.library_etag,
                    ));
                }
                let lookup = self
                    .web
                    .public_dir
                    .as_deref()
                    .and_then(|root| FileLookup::start(root, &file, self.web.max_file_len));
                Route::File(StaticFile { lookup, ..sf })
            }
        }
    }

    /// Plain HTTP and upgrades under the Primus path.
    fn primus(&self, req: &Request<()>, ctx: &RequestContext) -> Route {
        // Primus's CORS middleware opts out of upgrades.
        let mut cors = Vec::new();
        if !req.headers().contains_key(header::UPGRADE) {
            cors = match cors::primus(req.method(), req.headers(), &self.web.cors) {
                PrimusCors::Answer(r) => return Route::Respond(r),
                PrimusCors::Headers(h) => h,
            };
            if &req.uri().path()[self.pathname.len()..] == "/primus.js" {
                let mut r = HttpResponse::new(StatusCode::OK, self.primus_js.clone())
                    .header("Content-Type", "text/javascript; charset=utf-8");
                r.headers.extend(cors);
                if req.method() == Method::HEAD {
                    r.head_only();
                }
                return Route::Respond(r);
            }
        }
        match handshake::decide(req, ctx.peer, &self.handshake) {
            Decided::Upgrade {
                handshake,
                response,
                accept,
            } => Route::Upgrade {
                handshake,
                response,
                accept,
            },
            Decided::Respond(mut r) => {
                r.headers.extend(cors);
                Route::Respond(r)
            }
        }
    }
}

/// Where a web path leads (Actionhero's `determineRequestParams`): the path's parts
/// after the matched prefix.
enum WebTarget<'a> {
    Api(Vec<&'a str>),
    File(Vec<&'a str>),
}

impl Router {
    fn web_target<'a>(&self, path: &'a str) -> WebTarget<'a> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let rest = |prefix: &[String]| {
            let matches = !prefix.is_empty()
                && prefix.len() <= parts.len()
                && prefix.iter().zip(&parts).all(|(a, b)| a == b);
            matches.then(|| parts[prefix.len()..].to_vec())
        };
        if let Some(rest) = rest(&self.api_parts) {
            return WebTarget::Api(rest);
        }
        if let Some(rest) = rest(&self.public_parts) {
            return WebTarget::File(rest);
        }
        match self.web.root_endpoint {
            RootEndpoint::File => WebTarget::File(parts),
            RootEndpoint::Api => WebTarget::Api(parts),
        }
    }
}

/// What kind of body an action request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `GET`/`HEAD`, or no `Content-Type`: the body is read and ignored.
    Ignored,
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Anything else (multipart uploads included): not parsed.
    Other,
}

impl BodyKind {
    fn of(content_type: &[u8]) -> Self {
        let ct = String::from_utf8_lossy(content_type).to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence == "application/json" || essence.ends_with("+json") {
            Self::Json
        } else if essence == "application/x-www-form-urlencoded" {
            Self::Form
        } else {
            Self::Other
        }
    }
}

/// An action request from the web: what the server machine needs to run it, once the
/// adapter has read the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    /// The action named by the path (`/api/NAME`) or, when enabled, by `?action=`.
    pub action: Option<String>,
    /// The raw query string.
    pub query: String,
    /// Body bytes the adapter must read (from `Content-Length`, already within
    /// [`WebConfig::max_body_len`]).
    pub body_len: usize,
    /// How to read the body.
    pub body_kind: BodyKind,
    /// The request's fingerprint.
    pub fingerprint: String,
    /// The client IP (forwarding headers believed only from trusted proxies).
    pub remote_ip: String,
    /// The client port.
    pub remote_port: u16,
    /// Headers every answer carries (cookie, CORS, server name, date, keep-alive).
    pub headers: WebHeaders,
    /// A `HEAD` request: answer without a body.
    pub head: bool,
    /// `serverInformation.serverName`.
    pub server_name: String,
    /// `serverInformation.apiVersion`.
    pub api_version: String,
}

impl ApiRequest {
    /// The JSON answer (`Content-Length: 0` and no body for `HEAD`, as Actionhero).
    pub(crate) fn response(&self, status: StatusCode, body: String) -> HttpResponse {
        let body = if self.head { String::new() } else { body };
        self.headers.json(status, Bytes::from(body), false)
    }

    /// A JSONP answer: `application/javascript`, first.
    pub(crate) fn script(&self, status: StatusCode, body: String) -> HttpResponse {
        let body = if self.head { String::new() } else { body };
        self.headers.json(status, Bytes::from(body), true)
    }
}

/// The headers every Actionhero web answer carries, and its connection handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebHeaders {
    /// `strict-transport-security`, the CORS headers and `x-powered-by`, in the order
    /// Actionhero writes them.
    common: Vec<(&'static str, String)>,
    set_cookie: Option<String>,
    date: String,
    keep_alive: bool,
    keep_alive_secs: u32,
}

impl WebHeaders {
    fn new(
        web: &WebConfig,
        cors: Option<(String, bool)>,
        set_cookie: Option<String>,
        now_ms: u64,
        keep_alive: bool,
    ) -> Self {
        let mut common = vec![(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains".to_owned(),
        )];
        if let Some((origin, vary)) = cors {
            common.push(("access-control-allow-headers", "Content-Type".to_owned()));
            common.push(("access-control-allow-methods", cors::WEB_METHODS.to_owned()));
            common.push(("access-control-allow-origin", origin));
            if vary {
                common.push(("vary", "Origin".to_owned()));
            }
        }
        common.push(("x-powered-by", web.server_name.clone()));
        Self {
            common,
            set_cookie,
            date: crate::time::http_date(now_ms),
            keep_alive,
            keep_alive_secs: web.keep_alive_secs,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::new(
            &WebConfig::default(),
            Some(("*".into(), false)),
            None,
            0,
            false,
        )
    }

    /// The fingerprint cookie this answer sets, if any.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    fn finish(&self, mut r: HttpResponse) -> HttpResponse {
        r.date = Some(self.date.clone());
        r.keep_alive = self.keep_alive;
        r.keep_alive_secs = self.keep_alive_secs;
        r
    }

    /// An action, OPTIONS or JSONP answer.
    fn json(&self, status: StatusCode, body: Bytes, script: bool) -> HttpResponse {
        let mut r = HttpResponse::new(status, body);
        if script {
            r.headers
                .push(("content-type", "application/javascript".to_owned()));
        }
        r.headers.extend(self.common.iter().cloned());
        if !script {
            r.headers
                .push(("content-type", "application/json; charset=utf-8".to_owned()));
        }
        if let Some(c) = &self.set_cookie {
            r.headers.push(("set-cookie", c.clone()));
        }
        self.finish(r)
    }

    /// A static file's headers (`cache-control` and `content-type` first).
    fn file(&self, mime: &str, cache_secs: u64) -> HttpResponse {
        let mut r = HttpResponse::new(StatusCode::OK, Bytes::new());
        r.headers.push((
            "cache-control",
            format!("max-age={cache_secs}, must-revalidate, public"),
        ));
        r.headers.push(("content-type", mime.to_owned()));
        r.headers.extend(self.common.iter().cloned());
        if let Some(c) = &self.set_cookie {
            r.headers.push(("set-cookie", c.clone()));
        }
        self.finish(r)
    }

    /// The static-file `404`.
    fn not_found(&self) -> HttpResponse {
        let mut r = HttpResponse::new(StatusCode::NOT_FOUND, Bytes::from_static(NOT_FOUND));
        r.headers.push(("content-type", "text/html".to_owned()));
        r.headers.extend(self.common.iter().cloned());
        if let Some(c) = &self.set_cookie {
            r.headers.push(("set-cookie", c.clone()));
        }
        self.finish(r)
    }
}

/// The body of a static-file `404` (Actionhero's `fileNotFound` text).
const NOT_FOUND: &[u8] = b"that file is not found";

/// A static file request.
#[derive(Clone, Debug)]
pub struct StaticFile {
    /// The lookup to drive (`None`: the path can never be served, or there is no
    /// public directory).
    pub lookup: Option<FileLookup>,
    headers: WebHeaders,
    conditional: Conditional,
    head: bool,
    cache_secs: u64,
}

/// What to do with a static file once it is found (or not).
#[derive(Debug)]
pub enum FileAnswer {
    /// Write this (`404`, `304`).
    Respond(HttpResponse),
    /// Read the file's bytes, then call [`FileBody::respond`].
    Read(FileBody),
}

/// A found file whose bytes the adapter reads.
#[derive(Debug)]
pub struct FileBody {
    /// The file.
    pub file: PublicFile,
    response: HttpResponse,
    headers: WebHeaders,
    head: bool,
}

impl FileBody {
    /// The answer with the file's bytes; `None` (the read failed) gives the `404`.
    pub fn respond(self, bytes: Option<Bytes>) -> HttpResponse {
        match bytes {
            Some(bytes) => with_body(self.response, bytes, self.head),
            None => self.headers.not_found(),
        }
    }
}

impl StaticFile {
    /// The answer once the lookup ended: `found` is its [`Lookup::Found`] file.
    ///
    /// [`Lookup::Found`]: super::files::Lookup::Found
    pub fn answer(self, found: Option<PublicFile>) -> FileAnswer {
        let Some(file) = found else {
            return FileAnswer::Respond(self.headers.not_found());
        };
        // Actionhero crashes on a type `mime` does not know; we send bytes.
        let mime = file.mime.unwrap_or("application/octet-stream");
        let etag = weak_etag(file.len, file.modified_ms);
        match self.found(mime, file.modified_ms, &etag) {
            Ok(response) => FileAnswer::Read(FileBody {
                file,
                response,
                headers: self.headers,
                head: self.head,
            }),
            Err(not_modified) => FileAnswer::Respond(not_modified),
        }
    }

    /// The whole answer, synchronously: drives [`lookup`](Self::lookup) with `stat`
    /// (see [`FileLookup::find`]), then reads a found file with `read` unless the
    /// answer is a `304`. For an adapter that may block (a thread, a blocking task).
    pub fn serve(
        mut self,
        stat: impl FnMut(&std::path::Path) -> Option<super::files::FileMeta>,
        read: impl FnOnce(&std::path::Path) -> Option<Vec<u8>>,
    ) -> HttpResponse {
        let found = self.lookup.take().and_then(|l| l.find(stat));
        match self.answer(found) {
            FileAnswer::Respond(r) => r,
            FileAnswer::Read(body) => {
                let bytes = read(&body.file.path).map(Bytes::from);
                body.respond(bytes)
            }
        }
    }

    fn in_memory(self, body: &Bytes, mime: &str, modified_ms: u64, etag: &str) -> HttpResponse {
        match self.found(mime, modified_ms, etag) {
            Ok(r) => with_body(r, body.clone(), self.head),
            Err(not_modified) => not_modified,
        }
    }

    /// A found file's answer still without its body, or `Err` with the `304` when the
    /// request's conditions say the client's copy is current.
    fn found(
        &self,
        mime: &str,
        modified_ms: u64,
        etag: &str,
    ) -> Result<HttpResponse, HttpResponse> {
        let mut r = self.headers.file(mime, self.cache_secs);
        if self.conditional.not_modified(modified_ms, etag, &mut r) {
            r.status = StatusCode::NOT_MODIFIED;
            r.content_length = None;
            return Err(r);
        }
        Ok(r)
    }
}

/// A found file's answer with its bytes (`HEAD`: their length only).
fn with_body(mut r: HttpResponse, bytes: Bytes, head: bool) -> HttpResponse {
    r.content_length = Some(bytes.len() as u64);
    if !head {
        r.body = bytes;
    }
    r
}

/// The conditional headers of a static file request (Actionhero's `sendFile`).
#[derive(Clone, Debug, Default)]
struct Conditional {
    if_modified_since: Option<Option<u64>>,
    if_none_match: Option<String>,
    no_cache: bool,
}

impl Conditional {
    fn of(headers: &HeaderMap) -> Self {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Self {
            if_modified_since: text(header::IF_MODIFIED_SINCE)
                .map(|v| crate::time::parse_http_date(&v)),
            if_none_match: text(header::IF_NONE_MATCH),
            no_cache: text(header::CACHE_CONTROL).is_some_and(|v| v.contains("no-cache")),
        }
    }

    /// True for `304`. Like Actionhero: an `If-Modified-Since` decides alone (and the
    /// answer then carries no `ETag`); otherwise the `ETag` is sent and compared with
    /// `If-None-Match` unless the request says `no-cache`.
    fn not_modified(&self, modified_ms: u64, etag: &str, r: &mut HttpResponse) -> bool {
        if let Some(since) = self.if_modified_since {
            let modified = modified_ms - modified_ms % 1000;
            return since.is_some_and(|since| modified <= since);
        }
        r.headers.push(("etag", etag.to_owned()));
        let matches = self.if_none_match.as_deref().is_some_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|m| m == "*" || m == etag || m.strip_prefix("W/") == Some(etag))
        });
        matches && !self.no_cache
    }
}

/// The `etag` package's weak tag for a file: `W/"<size hex>-<mtime ms hex>"`.
fn weak_etag(len: u64, modified_ms: u64) -> String {
    format!("W/\"{len:x}-{modified_ms:x}\"")
}

/// HTTP/1.1 keeps the connection unless it says `Connection: close`; HTTP/1.0 only
/// when it says `Connection: keep-alive`.
fn wants_keep_alive(req: &Request<()>) -> bool {
    let says = |token: &[u8]| {
        req.headers()
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    };
    match req.version() {
        Version::HTTP_10 => says(b"keep-alive"),
        _ => !says(b"close"),
    }
}

/// The body length from `Content-Length` (0 without one). `Transfer-Encoding` bodies are
/// refused with `411 Length Required`, a bad length with `400`.
fn content_length(headers: &HeaderMap) -> Result<usize, StatusCode> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(StatusCode::LENGTH_REQUIRED);
    }
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(0),
        (Some(v), None) => std::str::from_utf8(v.as_bytes())
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(StatusCode::BAD_REQUEST),
        (Some(_), Some(_)) => Err(StatusCode::BAD_REQUEST),
    }
}

/// `?action=` of a query (its last value, as `qs` and Actionhero's param merge give).
fn query_action(query: &str) -> Option<String> {
    super::api::parse_query(query)
        .remove("action")
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Array(mut a) => a.pop().and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        })
        .filter(|s| !s.is_empty())
}

/// `decodeURIComponent`, keeping the input when it is not valid.
fn percent_decode(s: &str) -> String {
    js::decode_uri_component(s).unwrap_or_else(|| s.to_owned())
}
