//! `ahws serve`'s settings: every setting of the library's server (the core's
//! [`ServerConfig`], [`HandshakeConfig`] and [`WebConfig`], the tokio adapter's
//! [`AdapterConfig`]) plus the listen address, the starting rooms, the public
//! directory, TLS and the metrics listener, as command-line flags and as a TOML file (`--config FILE`). A flag given on
//! the command line overrides the file; what neither gives is the library's default.
//!
//! One struct serves both: clap reads [`Settings`] from the command line, serde from the
//! file, and a file key is its flag's name (`max-connections` in `[server]` is
//! `--max-connections`). Every field is optional, so "not given" stays visible until
//! [`Settings::resolve`] fills in the defaults. The conversions to and from the library's
//! configs name every field of them (no `..Default::default()`), so a setting added to
//! the library does not compile here until it has a flag and a key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actionhero_ws::handshake::{HandshakeConfig, HandshakeLimits, IpNet};
use actionhero_ws::http::{ClientUrl, CorsConfig, FingerprintConfig, RootEndpoint, WebConfig};
use actionhero_ws::server::ServerConfig;
use actionhero_ws_tokio::redis::ClusterConfig;
use actionhero_ws_tokio::server::AdapterConfig;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Everything `ahws serve` can be told, from the command line or a TOML file.
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory of static files, served over HTTP (`/`, `/public/…`) and by the `file`
    /// verb; in a config file, relative to the file's directory. Default (when present):
    /// the crate's `public/`, with the demo chat page.
    #[arg(long, value_name = "DIR")]
    pub public: Option<PathBuf>,
    /// A chat room that exists from the start (repeatable; replaces the file's list).
    #[arg(long = "room", visible_alias = "rooms", value_name = "NAME")]
    pub rooms: Option<Vec<String>>,
    /// No per-connection log lines (and no event channel: what benchmarks run).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub quiet: Option<bool>,
    /// Serve TLS (`https://`, `wss://`) with this PEM certificate chain (the certificate
    /// first, then intermediates); needs `tls-key`. In a config file, relative to the
    /// file's directory.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls-cert` (PKCS #8, PKCS #1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` on a listener of its own (for
    /// example 127.0.0.1:9100; keep it off the public interface). Default: none.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Worker threads, each with its own core and connections, rooms shared between
    /// them (1: no sharing cost). Default: one per core.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// The core server's settings (`[server]`).
    #[command(flatten, next_help_heading = "Server ([server] in the config file)")]
    #[serde(default)]
    pub server: ServerSettings,
    /// The WebSocket upgrade's settings (`[handshake]`).
    #[command(
        flatten,
        next_help_heading = "Handshake ([handshake] in the config file)"
    )]
    #[serde(default)]
    pub handshake: HandshakeSettings,
    /// The HTTP side's settings (`[web]`).
    #[command(flatten, next_help_heading = "Web ([web] in the config file)")]
    #[serde(default)]
    pub web: WebSettings,
    /// The tokio adapter's queues and timeouts (`[adapter]`).
    #[command(flatten, next_help_heading = "Adapter ([adapter] in the config file)")]
    #[serde(default)]
    pub adapter: AdapterSettings,
    /// Joining a cluster through Redis (`[cluster]`).
    #[command(flatten, next_help_heading = "Cluster ([cluster] in the config file)")]
    #[serde(default)]
    pub cluster: ClusterSettings,
}

/// `[cluster]`: rooms shared with other nodes (ours or Actionhero's) through Redis.
/// Without `redis` the server runs alone, in memory.
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClusterSettings {
    /// Join the cluster on this Redis (`redis://HOST:PORT[/DB]`). Default: none.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The cluster's server token; messages with another are ignored. Default:
    /// `change-me` (Actionhero's).
    #[arg(long, value_name = "TOKEN")]
    pub server_token: Option<String>,
    /// The cluster's pub/sub channel. Default: `actionhero`.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// This node's id in the cluster (unique). Default: `ahws-<pid>-<random>`.
    #[arg(long, value_name = "ID")]
    pub server_id: Option<String>,
}

/// `[server]`: [`ServerConfig`].
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServerSettings {
    /// Welcome text sent to every new connection as `{"welcome":…,"context":"api"}`.
    #[arg(long, value_name = "TEXT")]
    pub welcome: Option<String>,
    /// Whether the welcome is sent at all (Actionhero's `sendWelcomeMessage`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub send_welcome: Option<bool>,
    /// Primus heartbeat interval in milliseconds (0 disables it).
    #[arg(long, alias = "ping-interval", value_name = "MS")]
    pub ping_interval_ms: Option<u64>,
    /// Actions one connection may have running; the next one is refused
    /// (`simultaneousActions`).
    #[arg(long, value_name = "N")]
    pub simultaneous_actions: Option<u32>,
    /// A verb allowed besides `action` and `file` (repeatable; replaces the default list).
    #[arg(
        long = "allowed-verb",
        visible_alias = "allowed-verbs",
        value_name = "VERB"
    )]
    pub allowed_verbs: Option<Vec<String>>,
    /// Most open connections.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most rooms one connection may be in.
    #[arg(long, value_name = "N")]
    pub max_rooms_per_connection: Option<usize>,
    /// Most file requests one connection may have outstanding.
    #[arg(long, value_name = "N")]
    pub max_pending_files_per_connection: Option<u32>,
    /// Most HTTP (`/api`) actions running at once, server-wide; more get `503`.
    #[arg(long, value_name = "N")]
    pub max_pending_web_actions: Option<usize>,
    /// Most frames queued for one connection before it is closed as a slow consumer.
    #[arg(long, value_name = "N")]
    pub max_outbound_queue_per_connection: Option<usize>,
    /// Largest inbound message in bytes (Primus `maxLength`); larger closes with 1009.
    #[arg(long, value_name = "BYTES")]
    pub max_message_len: Option<usize>,
    /// Undecodable frames in a row tolerated before closing with 1008.
    #[arg(long, value_name = "N")]
    pub max_consecutive_violations: Option<u32>,
    /// Most rooms on the server.
    #[arg(long, value_name = "N")]
    pub max_rooms: Option<usize>,
    /// How long shutdown waits for running actions, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub shutdown_grace_ms: Option<u64>,
}

/// `[handshake]`: [`HandshakeConfig`] (its `ping_interval_ms` is the server's
/// `ping-interval-ms`).
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HandshakeSettings {
    /// The Primus path WebSocket upgrades go to.
    #[arg(long, value_name = "PATH")]
    pub pathname: Option<String>,
    /// The query parameter (and cookie) carrying the session fingerprint.
    #[arg(long, value_name = "NAME")]
    pub cookie_key: Option<String>,
    /// Also read the fingerprint from the `Cookie` header when the query has none.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub fingerprint_from_cookie: Option<bool>,
    /// A proxy network whose `X-Forwarded-For`/`X-Real-IP` headers are believed, e.g.
    /// `10.0.0.0/8` (repeatable; replaces the default list; `[]` in the file: none).
    #[arg(
        long = "trusted-proxy",
        visible_alias = "trusted-proxies",
        value_name = "NET"
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// An origin allowed to upgrade (repeatable). Default: any, as Primus.
    #[arg(
        long = "allowed-origin",
        visible_alias = "allowed-origins",
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// Most bytes in a request head.
    #[arg(long, value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// Most header lines in a request head.
    #[arg(long, value_name = "N")]
    pub max_headers: Option<usize>,
}

/// What `/` and unprefixed paths serve.
#[derive(ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Root {
    /// Static files.
    File,
    /// Actions (`/NAME` runs action `NAME`).
    Api,
}

/// `[web]`: [`WebConfig`] (its public directory is the top-level `public`).
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebSettings {
    /// Path prefix of actions over HTTP.
    #[arg(long, value_name = "PATH")]
    pub api_path: Option<String>,
    /// Path prefix of static files ("" serves none under a prefix).
    #[arg(long, value_name = "PATH")]
    pub public_path: Option<String>,
    /// What `/` and unprefixed paths serve.
    #[arg(long, value_name = "WHAT")]
    pub root_endpoint: Option<Root>,
    /// An origin allowed to make cross-origin HTTP requests (repeatable); others get
    /// `403`. Default: any, as Actionhero.
    #[arg(
        long = "cors-origin",
        visible_alias = "cors-origins",
        value_name = "ORIGIN"
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Send the fingerprint cookie when a request had none.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub set_cookie: Option<bool>,
    /// The fingerprint cookie's `path` ("" writes none).
    #[arg(long, value_name = "PATH")]
    pub cookie_path: Option<String>,
    /// The fingerprint cookie's lifetime in milliseconds (0 writes no `expires`).
    #[arg(long, value_name = "MS")]
    pub cookie_expires_ms: Option<u64>,
    /// `X-Powered-By` and `serverInformation.serverName`.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// `serverInformation.apiVersion`.
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
    /// `Cache-Control: max-age=` of static files, in seconds.
    #[arg(long, value_name = "SECS")]
    pub file_cache_secs: Option<u64>,
    /// Largest request body read for an action; larger gets `413`.
    #[arg(long, value_name = "BYTES")]
    pub max_body_len: Option<usize>,
    /// Largest static file served; larger ones are not found.
    #[arg(long, value_name = "BYTES")]
    pub max_file_len: Option<u64>,
    /// Seconds a kept-alive HTTP connection waits for its next request.
    #[arg(long, value_name = "SECS")]
    pub keep_alive_secs: Option<u32>,
    /// Also route `/api?action=NAME` (older Actionhero; 29 answers it 404).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub query_action_routing: Option<bool>,
    /// The served client library's `url` (`window.location.origin` or a fixed URL).
    #[arg(long, value_name = "URL")]
    pub client_url: Option<String>,
    /// Extra options written into the served client library's defaults, in order; in
    /// the file the table `[web.client-options]`.
    #[arg(skip)]
    pub client_options: Option<toml::Table>,
    /// An extra option of the served client library, `KEY=JSON` (repeatable; added after
    /// the file's `[web.client-options]`).
    #[arg(long = "client-option", visible_alias = "client-options", value_name = "KEY=JSON", value_parser = parse_client_option)]
    #[serde(skip)]
    pub client_option: Vec<(String, Value)>,
}

/// `[adapter]`: the tokio adapter's [`AdapterConfig`].
#[derive(Args, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AdapterSettings {
    /// How long a client may take to send its upgrade head, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// How long a client may take to complete the TLS handshake, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub tls_handshake_timeout_ms: Option<u64>,
    /// Frames queued for one connection's writer before it is a slow consumer.
    #[arg(long, value_name = "N")]
    pub outbound_queue: Option<usize>,
    /// Events queued for the connection log beyond its channel (readers wait beyond it).
    #[arg(long, value_name = "N")]
    pub inbound_queue: Option<usize>,
    /// Commands (application calls, embedding servers' requests) waiting for the worker.
    #[arg(long, value_name = "N")]
    pub command_queue: Option<usize>,
    /// How long a connection waits for the peer's close reply, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub close_timeout_ms: Option<u64>,
    /// How long shutdown waits for connections to write their last frames, in ms.
    #[arg(long, value_name = "MS")]
    pub shutdown_flush_timeout_ms: Option<u64>,
    /// Bytes read from a socket per read call.
    #[arg(long, value_name = "BYTES")]
    pub read_buffer_size: Option<usize>,
}

fn parse_client_option(pair: &str) -> Result<(String, Value), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=JSON, got `{pair}`"))?;
    let value = serde_json::from_str(value).map_err(|e| format!("`{value}` is not JSON: {e}"))?;
    Ok((key.to_owned(), value))
}

/// The settings with every default filled in: what the server is built from.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Listen address.
    pub listen: String,
    /// Public directory, if any.
    pub public: Option<PathBuf>,
    /// Rooms that exist from the start.
    pub rooms: Vec<String>,
    /// No per-connection log lines.
    pub quiet: bool,
    /// The TLS certificate chain and key files, when serving TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where Prometheus metrics are served (`http://ADDR/metrics`), if anywhere.
    pub metrics: Option<String>,
    /// Worker threads.
    pub workers: usize,
    /// The core server's config.
    pub server: ServerConfig,
    /// The handshake's config.
    pub handshake: HandshakeConfig,
    /// The web side's config (`public_dir` is [`Resolved::public`]).
    pub web: WebConfig,
    /// The adapter's config.
    pub adapter: AdapterConfig,
    /// The cluster to join, if any.
    pub cluster: Option<ClusterConfig>,
}

impl Default for Resolved {
    /// The library's defaults, Actionhero's sample rooms, the shipped `public/`.
    fn default() -> Self {
        let shipped = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/public"));
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public: shipped.is_dir().then_some(shipped),
            rooms: actionhero_ws::samples::STARTING_ROOMS
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            quiet: false,
            tls: None,
            metrics: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            server: ServerConfig::default(),
            handshake: HandshakeConfig::default(),
            web: WebConfig::default(),
            adapter: AdapterConfig::default(),
            cluster: None,
        }
    }
}

/// A settings problem, said for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

fn err(message: impl Into<String>) -> SettingsError {
    SettingsError(message.into())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Settings {
    /// Parses a config file's text. `dir` is the file's directory: a relative `public`
    /// is taken from there. Unknown keys, wrong types and bad TOML are errors that name
    /// the line.
    ///
    /// # Errors
    /// The TOML error, with its line and column.
    pub fn from_toml(text: &str, dir: &Path) -> Result<Settings, SettingsError> {
        let mut settings: Settings = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for path in [
            &mut settings.public,
            &mut settings.tls_cert,
            &mut settings.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
        Ok(settings)
    }

    /// Reads and parses the config file at `path` (see [`Settings::from_toml`]).
    ///
    /// # Errors
    /// The file cannot be read, or [`Settings::from_toml`]'s errors; the message names
    /// the file.
    pub fn from_file(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, dir).map_err(|e| err(format!("{}: {e}", path.display())))
    }

    /// `self` (say, the file's) with every setting `over` gives (the command line's)
    /// put over it; lists are replaced, not merged. `over`'s `--client-option`s are
    /// kept, to be added after the file's `[web.client-options]`.
    ///
    /// # Errors
    /// Only if the settings cannot round-trip through TOML (not expected).
    pub fn overridden_by(self, over: Settings) -> Result<Settings, SettingsError> {
        fn overlay(base: &mut toml::Table, top: toml::Table) {
            for (key, value) in top {
                match (base.get_mut(&key), value) {
                    (Some(toml::Value::Table(b)), toml::Value::Table(t)) => overlay(b, t),
                    (_, value) => {
                        base.insert(key, value);
                    }
                }
            }
        }
        let client_option = over.web.client_option.clone();
        let mut base = toml::Table::try_from(&self).map_err(|e| err(e.to_string()))?;
        let top = toml::Table::try_from(&over).map_err(|e| err(e.to_string()))?;
        overlay(&mut base, top);
        let mut merged: Settings = base.try_into().map_err(|e| err(e.to_string()))?;
        merged.web.client_option = self.web.client_option;
        merged.web.client_option.extend(client_option);
        Ok(merged)
    }

    /// Fills in every default and builds the library's configs.
    ///
    /// # Errors
    /// A value the library's types cannot take (an invalid network in
    /// `trusted-proxies`), or a server limit out of range ([`ServerConfig::validate`]).
    pub fn resolve(self) -> Result<Resolved, SettingsError> {
        let d = Resolved::default();
        let Settings {
            listen,
            public,
            rooms,
            quiet,
            tls_cert,
            tls_key,
            metrics,
            workers,
            server: s,
            handshake: h,
            web: w,
            adapter: a,
            cluster: c,
        } = self;
        let ping_ms = s
            .ping_interval_ms
            .unwrap_or(d.server.ping_interval.map_or(0, ms));
        let ping_interval = (ping_ms > 0).then(|| Duration::from_millis(ping_ms));
        let send_welcome = s.send_welcome.unwrap_or(d.server.welcome.is_some());
        let welcome = s.welcome.or(d.server.welcome.clone()).unwrap_or_default();
        let server = ServerConfig {
            welcome: send_welcome.then_some(welcome),
            ping_interval,
            simultaneous_actions: s
                .simultaneous_actions
                .unwrap_or(d.server.simultaneous_actions),
            allowed_verbs: s.allowed_verbs.unwrap_or(d.server.allowed_verbs),
            max_connections: s.max_connections.unwrap_or(d.server.max_connections),
            max_rooms_per_connection: s
                .max_rooms_per_connection
                .unwrap_or(d.server.max_rooms_per_connection),
            max_pending_files_per_connection: s
                .max_pending_files_per_connection
                .unwrap_or(d.server.max_pending_files_per_connection),
            max_pending_web_actions: s
                .max_pending_web_actions
                .unwrap_or(d.server.max_pending_web_actions),
            max_outbound_queue_per_connection: s
                .max_outbound_queue_per_connection
                .unwrap_or(d.server.max_outbound_queue_per_connection),
            max_message_len: s.max_message_len.unwrap_or(d.server.max_message_len),
            max_consecutive_violations: s
                .max_consecutive_violations
                .unwrap_or(d.server.max_consecutive_violations),
            max_rooms: s.max_rooms.unwrap_or(d.server.max_rooms),
            shutdown_grace: s
                .shutdown_grace_ms
                .map_or(d.server.shutdown_grace, Duration::from_millis),
        };
        // Checked here too, so the message comes before any socket is bound.
        server
            .validate()
            .map_err(|e| err(format!("[server]: {e}")))?;
        let trusted_proxies = match h.trusted_proxies {
            None => d.handshake.trusted_proxies,
            Some(list) => list
                .iter()
                .map(|net| {
                    net.parse::<IpNet>().map_err(|_| {
                        err(format!(
                            "trusted-proxies: `{net}` is not an IP network (addr or addr/len)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let handshake = HandshakeConfig {
            pathname: h.pathname.unwrap_or(d.handshake.pathname),
            cookie_key: h.cookie_key.unwrap_or(d.handshake.cookie_key),
            fingerprint_from_cookie: h
                .fingerprint_from_cookie
                .unwrap_or(d.handshake.fingerprint_from_cookie),
            trusted_proxies,
            allowed_origins: h.allowed_origins.or(d.handshake.allowed_origins),
            // What `/primus/spec` reports: the server's heartbeat.
            ping_interval_ms: ping_ms,
            limits: HandshakeLimits {
                max_header_bytes: h
                    .max_header_bytes
                    .unwrap_or(d.handshake.limits.max_header_bytes),
                max_headers: h.max_headers.unwrap_or(d.handshake.limits.max_headers),
            },
        };
        let mut client_options: Map<String, Value> = d.web.client_options;
        if let Some(table) = w.client_options {
            for (key, value) in table {
                let value = serde_json::to_value(value)
                    .map_err(|e| err(format!("web.client-options.{key}: {e}")))?;
                client_options.insert(key, value);
            }
        }
        for (key, value) in w.client_option {
            client_options.insert(key, value);
        }
        let fingerprint = FingerprintConfig {
            set_cookie: w.set_cookie.unwrap_or(d.web.fingerprint.set_cookie),
            path: match w.cookie_path {
                None => d.web.fingerprint.path,
                Some(p) => (!p.is_empty()).then_some(p),
            },
            expires_ms: match w.cookie_expires_ms {
                None => d.web.fingerprint.expires_ms,
                Some(ms) => (ms > 0).then_some(ms),
            },
        };
        let web = WebConfig {
            api_path: w.api_path.unwrap_or(d.web.api_path),
            public_path: match w.public_path {
                None => d.web.public_path,
                Some(p) => (!p.is_empty()).then_some(p),
            },
            root_endpoint: match w.root_endpoint {
                None => d.web.root_endpoint,
                Some(Root::File) => RootEndpoint::File,
                Some(Root::Api) => RootEndpoint::Api,
            },
            // The top-level `public`, given to the builder.
            public_dir: None,
            cors: CorsConfig {
                allowed_origins: w.cors_origins.or(d.web.cors.allowed_origins),
            },
            fingerprint,
            server_name: w.server_name.unwrap_or(d.web.server_name),
            api_version: w.api_version.unwrap_or(d.web.api_version),
            file_cache_secs: w.file_cache_secs.unwrap_or(d.web.file_cache_secs),
            max_body_len: w.max_body_len.unwrap_or(d.web.max_body_len),
            max_file_len: w.max_file_len.unwrap_or(d.web.max_file_len),
            keep_alive_secs: w.keep_alive_secs.unwrap_or(d.web.keep_alive_secs),
            query_action_routing: w.query_action_routing.unwrap_or(d.web.query_action_routing),
            client_url: match w.client_url {
                None => d.web.client_url,
                Some(url) if url == ClientUrl::WindowOrigin.as_str() => ClientUrl::WindowOrigin,
                Some(url) => ClientUrl::Fixed(url),
            },
            client_options,
        };
        let da = d.adapter;
        let adapter = AdapterConfig {
            handshake_timeout: a
                .handshake_timeout_ms
                .map_or(da.handshake_timeout, Duration::from_millis),
            tls_handshake_timeout: a
                .tls_handshake_timeout_ms
                .map_or(da.tls_handshake_timeout, Duration::from_millis),
            outbound_queue: a.outbound_queue.unwrap_or(da.outbound_queue),
            inbound_queue: a.inbound_queue.unwrap_or(da.inbound_queue),
            command_queue: a.command_queue.unwrap_or(da.command_queue),
            close_timeout: a
                .close_timeout_ms
                .map_or(da.close_timeout, Duration::from_millis),
            shutdown_flush_timeout: a
                .shutdown_flush_timeout_ms
                .map_or(da.shutdown_flush_timeout, Duration::from_millis),
            read_buffer_size: a.read_buffer_size.unwrap_or(da.read_buffer_size),
        };
        Ok(Resolved {
            listen: listen.unwrap_or(d.listen),
            public: public.or(d.public),
            rooms: rooms.unwrap_or(d.rooms),
            quiet: quiet.unwrap_or(d.quiet),
            tls: match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => {
                    return Err(err(
                        "--tls-cert and --tls-key go together (tls-cert, tls-key in a file)",
                    ))
                }
            },
            metrics,
            workers: match workers {
                Some(0) => return Err(err("--workers must be at least 1")),
                Some(n) => n,
                None => d.workers,
            },
            server,
            handshake,
            web,
            adapter,
            cluster: match c.redis {
                Some(url) => {
                    let mut config = ClusterConfig::new(url);
                    if let Some(token) = c.server_token {
                        config.channel.server_token = token;
                    }
                    if let Some(channel) = c.channel {
                        config.redis.channel = channel;
                    }
                    if let Some(id) = c.server_id {
                        config.rooms.server_id = id;
                    }
                    Some(config)
                }
                None if c.server_token.is_some()
                    || c.channel.is_some()
                    || c.server_id.is_some() =>
                {
                    return Err(err(
                        "--server-token, --channel and --server-id need --redis",
                    ));
                }
                None => None,
            },
        })
    }

    /// Every setting of `r`, given: what `ahws serve --print-config` writes (an origin
    /// list that allows any origin is left out, as in a file).
    ///
    /// # Errors
    /// A client option TOML cannot hold (`null`).
    pub fn from_resolved(r: &Resolved) -> Result<Settings, SettingsError> {
        let ServerConfig {
            welcome,
            ping_interval,
            simultaneous_actions,
            allowed_verbs,
            max_connections,
            max_rooms_per_connection,
            max_pending_files_per_connection,
            max_pending_web_actions,
            max_outbound_queue_per_connection,
            max_message_len,
            max_consecutive_violations,
            max_rooms,
            shutdown_grace,
        } = &r.server;
        let server = ServerSettings {
            welcome: Some(welcome.clone().unwrap_or_default()),
            send_welcome: Some(welcome.is_some()),
            ping_interval_ms: Some(ping_interval.map_or(0, ms)),
            simultaneous_actions: Some(*simultaneous_actions),
            allowed_verbs: Some(allowed_verbs.clone()),
            max_connections: Some(*max_connections),
            max_rooms_per_connection: Some(*max_rooms_per_connection),
            max_pending_files_per_connection: Some(*max_pending_files_per_connection),
            max_pending_web_actions: Some(*max_pending_web_actions),
            max_outbound_queue_per_connection: Some(*max_outbound_queue_per_connection),
            max_message_len: Some(*max_message_len),
            max_consecutive_violations: Some(*max_consecutive_violations),
            max_rooms: Some(*max_rooms),
            shutdown_grace_ms: Some(ms(*shutdown_grace)),
        };
        let HandshakeConfig {
            pathname,
            cookie_key,
            fingerprint_from_cookie,
            trusted_proxies,
            allowed_origins,
            // The server's `ping-interval-ms`.
            ping_interval_ms: _,
            limits:
                HandshakeLimits {
                    max_header_bytes,
                    max_headers,
                },
        } = &r.handshake;
        let handshake = HandshakeSettings {
            pathname: Some(pathname.clone()),
            cookie_key: Some(cookie_key.clone()),
            fingerprint_from_cookie: Some(*fingerprint_from_cookie),
            trusted_proxies: Some(trusted_proxies.iter().map(ToString::to_string).collect()),
            allowed_origins: allowed_origins.clone(),
            max_header_bytes: Some(*max_header_bytes),
            max_headers: Some(*max_headers),
        };
        let WebConfig {
            api_path,
            public_path,
            root_endpoint,
            // The top-level `public`.
            public_dir: _,
            cors: CorsConfig {
                allowed_origins: cors_origins,
            },
            fingerprint:
                FingerprintConfig {
                    set_cookie,
                    path: cookie_path,
                    expires_ms: cookie_expires_ms,
                },
            server_name,
            api_version,
            file_cache_secs,
            max_body_len,
            max_file_len,
            keep_alive_secs,
            query_action_routing,
            client_url,
            client_options,
        } = &r.web;
        let options = toml::Table::try_from(client_options)
            .map_err(|e| err(format!("web.client-options: {e}")))?;
        let web = WebSettings {
            api_path: Some(api_path.clone()),
            public_path: Some(public_path.clone().unwrap_or_default()),
            root_endpoint: Some(match root_endpoint {
                RootEndpoint::File => Root::File,
                RootEndpoint::Api => Root::Api,
            }),
            cors_origins: cors_origins.clone(),
            set_cookie: Some(*set_cookie),
            cookie_path: Some(cookie_path.clone().unwrap_or_default()),
            cookie_expires_ms: Some(cookie_expires_ms.unwrap_or(0)),
            server_name: Some(server_name.clone()),
            api_version: Some(api_version.clone()),
            file_cache_secs: Some(*file_cache_secs),
            max_body_len: Some(*max_body_len),
            max_file_len: Some(*max_file_len),
            keep_alive_secs: Some(*keep_alive_secs),
            query_action_routing: Some(*query_action_routing),
            client_url: Some(client_url.as_str().to_owned()),
            client_options: Some(options),
            client_option: Vec::new(),
        };
        let AdapterConfig {
            handshake_timeout,
            tls_handshake_timeout,
            outbound_queue,
            inbound_queue,
            command_queue,
            close_timeout,
            shutdown_flush_timeout,
            read_buffer_size,
        } = &r.adapter;
        let adapter = AdapterSettings {
            handshake_timeout_ms: Some(ms(*handshake_timeout)),
            tls_handshake_timeout_ms: Some(ms(*tls_handshake_timeout)),
            outbound_queue: Some(*outbound_queue),
            inbound_queue: Some(*inbound_queue),
            command_queue: Some(*command_queue),
            close_timeout_ms: Some(ms(*close_timeout)),
            shutdown_flush_timeout_ms: Some(ms(*shutdown_flush_timeout)),
            read_buffer_size: Some(*read_buffer_size),
        };
        Ok(Settings {
            listen: Some(r.listen.clone()),
            public: r.public.clone(),
            rooms: Some(r.rooms.clone()),
            quiet: Some(r.quiet),
            tls_cert: r.tls.as_ref().map(|(cert, _)| cert.clone()),
            tls_key: r.tls.as_ref().map(|(_, key)| key.clone()),
            metrics: r.metrics.clone(),
            workers: Some(r.workers),
            server,
            handshake,
            web,
            adapter,
            cluster: r
                .cluster
                .as_ref()
                .map(|c| ClusterSettings {
                    redis: Some(c.redis.url.clone()),
                    server_token: Some(c.channel.server_token.clone()),
                    channel: Some(c.redis.channel.clone()),
                    server_id: Some(c.rooms.server_id.clone()),
                })
                .unwrap_or_default(),
        })
    }

    /// The settings as a TOML config file.
    ///
    /// # Errors
    /// A value TOML cannot hold.
    pub fn to_toml(&self) -> Result<String, SettingsError> {
        toml::to_string_pretty(self).map_err(|e| err(e.to_string()))
    }
}

/// Appends `[default: VALUE]` to the help of every `serve` flag that has a file key,
/// with the value taken from [`Resolved::default`] (the library's defaults), so the help
/// cannot drift from them.
pub fn with_defaults_in_help(serve: clap::Command) -> clap::Command {
    let Ok(defaults) = Settings::from_resolved(&Resolved::default()) else {
        return serve;
    };
    let Ok(table) = toml::Table::try_from(&defaults) else {
        return serve;
    };
    let mut shown = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(section) => {
                shown.extend(section.iter().map(|(k, v)| (k.clone(), display(v))));
            }
            v => shown.push((key.clone(), display(v))),
        }
    }
    let ids: Vec<(String, Vec<String>)> = serve
        .get_arguments()
        .map(|a| {
            let mut names: Vec<String> = a.get_long().into_iter().map(str::to_owned).collect();
            names.extend(a.get_all_aliases().into_iter().flatten().map(str::to_owned));
            (a.get_id().to_string(), names)
        })
        .collect();
    // `mut_arg` moves the argument to the end: touch every one, in order, so the order
    // (and so the order of the headings) stays as declared.
    let mut serve = serve;
    for (id, names) in ids {
        let default = shown.iter().find(|(key, _)| names.contains(key));
        serve = serve.mut_arg(id.as_str(), |arg| match default {
            Some((_, value)) => {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {value}]"))
            }
            None => arg,
        });
    }
    serve
}

fn display(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if s.is_empty() => "\"\"".to_owned(),
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        toml::Value::Table(t) if t.is_empty() => "none".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn parse(args: &[&str]) -> Settings {
        let mut all = vec!["ahws"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("valid flags").settings
    }

    #[test]
    fn nothing_given_is_the_library_defaults() {
        let r = Settings::default().resolve().expect("resolves");
        let d = Resolved::default();
        assert_eq!(format!("{:?}", r.server), format!("{:?}", d.server));
        assert_eq!(r.handshake, d.handshake);
        assert_eq!(r.web, d.web);
        assert_eq!(format!("{:?}", r.adapter), format!("{:?}", d.adapter));
        assert_eq!(r.rooms, ["defaultRoom", "otherRoom"]);
    }

    #[test]
    fn printed_defaults_read_back_as_the_same_settings() {
        let printed = Settings::from_resolved(&Resolved::default()).expect("printable");
        let text = printed.to_toml().expect("TOML");
        let read = Settings::from_toml(&text, Path::new("/")).expect("parses");
        assert_eq!(read, printed);
        let r = read.resolve().expect("resolves");
        let d = Resolved::default();
        assert_eq!(format!("{:?}", r.server), format!("{:?}", d.server));
        assert_eq!(r.handshake, d.handshake);
        assert_eq!(r.web, d.web);
        assert_eq!(format!("{:?}", r.adapter), format!("{:?}", d.adapter));
    }

    #[test]
    fn every_file_key_has_a_flag() {
        let mut settings = Settings::from_resolved(&Resolved::default()).expect("printable");
        // The two lists that are absent by default (any origin), TLS and metrics (off).
        settings.handshake.allowed_origins = Some(vec!["https://a.example".into()]);
        settings.web.cors_origins = Some(vec!["https://a.example".into()]);
        settings.tls_cert = Some("cert.pem".into());
        settings.tls_key = Some("key.pem".into());
        settings.metrics = Some("127.0.0.1:9100".into());
        // The cluster (off by default).
        settings.cluster = ClusterSettings {
            redis: Some("redis://127.0.0.1:6379".into()),
            server_token: Some("t".into()),
            channel: Some("c".into()),
            server_id: Some("n".into()),
        };
        let table = toml::Table::try_from(&settings).expect("table");
        let help = Cli::command().render_long_help().to_string();
        let mut keys = 0;
        for (key, value) in &table {
            let section: Vec<&String> = match value {
                toml::Value::Table(t) => t.keys().collect(),
                _ => vec![key],
            };
            for key in section {
                keys += 1;
                assert!(help.contains(&format!("--{key}")), "no --{key} in\n{help}");
            }
        }
        // Every field of the four library configs (less the two derived ones) plus
        // listen, public, rooms, quiet, tls-cert, tls-key, metrics and workers, and the
        // cluster's four.
        assert_eq!(keys, 8 + 14 + 7 + 16 + 8 + 4);
    }

    #[test]
    fn flags_override_the_file_and_lists_are_replaced() {
        let file = Settings::from_toml(
            r#"
            listen = "0.0.0.0:9000"
            public = "site"
            rooms = ["lobby", "ops"]
            metrics = "127.0.0.1:9100"
            [server]
            welcome = "from the file"
            max-rooms-per-connection = 2
            [web.client-options]
            timeout = 1000
            "#,
            Path::new("/etc/ahws"),
        )
        .expect("parses");
        assert_eq!(file.public, Some(PathBuf::from("/etc/ahws/site")));
        let cli = parse(&[
            "--welcome",
            "from the flag",
            "--room",
            "x",
            "--client-option",
            "reconnect={\"retries\":3}",
            "--quiet",
        ]);
        let r = file
            .overridden_by(cli)
            .expect("merges")
            .resolve()
            .expect("ok");
        assert_eq!(r.listen, "0.0.0.0:9000");
        assert_eq!(r.rooms, ["x"]);
        assert_eq!(r.metrics.as_deref(), Some("127.0.0.1:9100"));
        assert!(r.quiet);
        assert_eq!(r.server.welcome.as_deref(), Some("from the flag"));
        assert_eq!(r.server.max_rooms_per_connection, 2);
        assert_eq!(
            Value::Object(r.web.client_options),
            serde_json::json!({"timeout": 1000, "reconnect": {"retries": 3}})
        );
    }

    #[test]
    fn disabling_values() {
        let s = parse(&[
            "--send-welcome=false",
            "--ping-interval",
            "0",
            "--public-path",
            "",
            "--cookie-expires-ms",
            "0",
            "--query-action-routing=false",
            "--root-endpoint",
            "api",
            "--trusted-proxy",
            "10.0.0.0/8",
        ]);
        let r = s.resolve().expect("resolves");
        assert_eq!(r.server.welcome, None);
        assert_eq!(r.server.ping_interval, None);
        assert_eq!(r.handshake.ping_interval_ms, 0);
        assert_eq!(r.web.public_path, None);
        assert_eq!(r.web.fingerprint.expires_ms, None);
        assert!(!r.web.query_action_routing);
        assert_eq!(r.web.root_endpoint, RootEndpoint::Api);
        assert_eq!(
            r.handshake.trusted_proxies,
            vec!["10.0.0.0/8".parse::<IpNet>().expect("net")]
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_and_its_line() {
        let e = Settings::from_toml("[server]\nmax-conections = 5\n", Path::new("."))
            .expect_err("unknown key");
        assert!(e.0.contains("unknown field `max-conections`"), "{e}");
        assert!(e.0.contains("line 2"), "{e}");
        assert!(
            e.0.contains("max-connections"),
            "the expected keys are listed: {e}"
        );
        let e = Settings::from_toml("[tls]\ncert = \"x\"\n", Path::new(".")).expect_err("section");
        assert!(e.0.contains("unknown field `tls`"), "{e}");
        let e = Settings::from_toml("[server]\nmax-connections = \"many\"\n", Path::new("."))
            .expect_err("type");
        assert!(e.0.contains("line 2"), "{e}");
    }

    #[test]
    fn a_limit_out_of_range_is_an_error() {
        let e = parse(&["--max-connections", "0"])
            .resolve()
            .expect_err("zero connections");
        assert!(e.0.contains("max_connections"), "{e}");
    }

    #[test]
    fn a_bad_network_is_an_error() {
        let e = parse(&["--trusted-proxy", "nope"])
            .resolve()
            .expect_err("bad net");
        assert!(e.0.contains("`nope`"), "{e}");
    }
}
