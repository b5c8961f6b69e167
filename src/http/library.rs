//! The browser client library: what Actionhero 29.3.5 serves as `GET /primus/primus.js`
//! and writes to `<public>/javascript/ActionheroWebsocketClient.js` at boot.
//!
//! Rendered in memory from the templates vendored in `vendor/js/` (Primus 8.0.9's
//! `primus.library()` and `actionhero/client/ActionheroWebsocketClient.js`; see
//! `vendor/js/README.md` and `scripts/vendor-js.sh`), byte for byte as Node renders it.

use std::time::Duration;

use serde_json::{Map, Value};

use super::inspect::inspect;
use crate::wire::js::write_f64;

const PRIMUS_TEMPLATE: &str = include_str!("../../vendor/js/primus.js");
const CLIENT_TEMPLATE: &str = include_str!("../../vendor/js/ActionheroWebsocketClient.js");
const PATHNAME: &str = "%%PRIMUS_PATHNAME%%";
const PING_TIMEOUT: &str = "%%PRIMUS_PING_TIMEOUT%%";
const DEFAULTS: &str = "%%DEFAULTS%%";
const WINDOW_ORIGIN: &str = "window.location.origin";

/// Where the browser client connects (Actionhero's `websocket.clientUrl`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientUrl {
    /// The page's own origin: the bare expression `window.location.origin` (the default).
    #[default]
    WindowOrigin,
    /// A fixed URL such as `https://example.com`, written as a string.
    Fixed(String),
}

impl ClientUrl {
    /// The configured string, as Actionhero holds it (`"window.location.origin"` for
    /// [`ClientUrl::WindowOrigin`]).
    pub fn as_str(&self) -> &str {
        match self {
            ClientUrl::WindowOrigin => WINDOW_ORIGIN,
            ClientUrl::Fixed(url) => url,
        }
    }
}

/// What shapes the generated browser client library: Actionhero's `websocket.clientUrl`
/// and `websocket.client`, Primus's `pathname` and `pingInterval`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientLibraryConfig {
    /// Primus's `pathname` (default `/primus`); a leading `/` is added when missing.
    pub pathname: String,
    /// Primus's server `pingInterval` (default 30 s); `None` (or zero) when the server
    /// does not ping, which turns the client's ping timeout off.
    pub ping_interval: Option<Duration>,
    /// `websocket.clientUrl` (default [`ClientUrl::WindowOrigin`]).
    pub url: ClientUrl,
    /// `websocket.client.apiPath` (default `/api`).
    pub api_path: String,
    /// `websocket.client.cookieKey` (default `sessionID`, Actionhero's fingerprint cookie).
    pub cookie_key: String,
    /// Further `websocket.client` options, in order after `apiPath` and `cookieKey` (an
    /// `apiPath` or `cookieKey` entry here replaces that value in place, as a config merge
    /// would; a `url` entry keeps its place but takes the value of `url`).
    pub options: Map<String, Value>,
}

impl Default for ClientLibraryConfig {
    /// Actionhero 29.3.5's and Primus 8.0.9's defaults.
    fn default() -> Self {
        Self {
            pathname: "/primus".to_owned(),
            ping_interval: Some(Duration::from_millis(30_000)),
            url: ClientUrl::WindowOrigin,
            api_path: "/api".to_owned(),
            cookie_key: "sessionID".to_owned(),
            options: Map::new(),
        }
    }
}

/// The Primus client library (`primus.library()`), what `GET <pathname>/primus.js`
/// answers, for a server with this `pathname` and `pingInterval` (`None` or zero: no
/// pings).
///
/// The client's default `pingTimeout` is `pingInterval + Math.round(pingInterval / 2)`
/// milliseconds, or `false` without pings. A pathname is written as is, between double
/// quotes, as Primus does (its `$` replacement patterns expanded; `` $` `` and `$'` are
/// the one case where the output differs from Primus's).
pub fn primus_library(pathname: &str, ping_interval: Option<Duration>) -> String {
    let pathname = if pathname.starts_with('/') {
        pathname.to_owned()
    } else {
        format!("/{pathname}")
    };
    let ping_timeout = match ping_interval.filter(|d| !d.is_zero()) {
        Some(interval) => {
            let ms =
                interval.as_millis() as f64 + f64::from(interval.subsec_nanos() % 1_000_000) / 1e6;
            let mut out = String::new();
            write_f64(&mut out, ms + (ms / 2.0 + 0.5).floor());
            out
        }
        None => "false".to_owned(),
    };
    let filled = PRIMUS_TEMPLATE.replacen(PING_TIMEOUT, &ping_timeout, 1);
    let Some((before, after)) = filled.split_once(PATHNAME) else {
        return filled;
    };
    // Primus writes the pathname with `String.prototype.replace`, so `$` patterns in it
    // are expanded: `$$` and `$&` exactly; `` $` `` and `$'` here insert the rendered
    // text around the pathname, where Primus inserts its unrendered source.
    let mut out = String::with_capacity(filled.len() + pathname.len());
    out.push_str(before);
    let matched = "null; // @import {primus::pathname}";
    push_js_replacement(&mut out, &pathname, matched, before, after);
    out.push_str(after);
    out
}

/// The browser client library Actionhero writes to
/// `<public>/javascript/ActionheroWebsocketClient.js` at boot (its `renderClientJS`):
/// the Primus library, then `ActionheroWebsocketClient` with its defaults filled in.
pub fn client_library(config: &ClientLibraryConfig) -> String {
    let primus = primus_library(&config.pathname, config.ping_interval);
    let client = compile_client(config);
    let mut out = String::with_capacity(primus.len() + client.len() + 256);
    out.push_str(&primus);
    out.push_str("\r\n\r\n\r\n");
    out.push_str(";;;\r\n(function(exports){ \r\n");
    out.push_str(&client);
    out.push_str("\r\n");
    out.push_str("exports.ActionheroWebsocketClient = ActionheroWebsocketClient; \r\n");
    out.push_str("exports.ActionheroWebsocketClient = ActionheroWebsocketClient; \r\n");
    out.push_str("})(typeof exports === 'undefined' ? window : exports);");
    out
}

/// The `defaults` object of Actionhero's `compileActionheroWebsocketClientJS`: the
/// `websocket.client` options, then `url`.
fn client_defaults(config: &ClientLibraryConfig) -> Map<String, Value> {
    let mut client = Map::new();
    client.insert("apiPath".to_owned(), Value::String(config.api_path.clone()));
    client.insert(
        "cookieKey".to_owned(),
        Value::String(config.cookie_key.clone()),
    );
    for (key, value) in &config.options {
        client.insert(key.clone(), value.clone());
    }
    // `for (const i in config.client) defaults[i] = config.client[i]`: `__proto__` would
    // set the prototype instead of a property (invisible to `util.inspect` for a
    // primitive or a plain object).
    client.remove("__proto__");
    client.insert(
        "url".to_owned(),
        Value::String(config.url.as_str().to_owned()),
    );
    client
}

/// Actionhero's `compileActionheroWebsocketClientJS`: `%%DEFAULTS%%` becomes
/// `return <util.inspect(defaults)>`, its first `'window.location.origin'` unquoted.
/// (`%%URL%%` does not occur in 29.3.5's client; `scripts/vendor-js.js` checks.)
fn compile_client(config: &ClientLibraryConfig) -> String {
    let quoted = format!("'{WINDOW_ORIGIN}'");
    let defaults =
        inspect(&Value::Object(client_defaults(config))).replacen(&quoted, WINDOW_ORIGIN, 1);
    let replacement = format!("return {defaults}");
    match CLIENT_TEMPLATE.split_once(DEFAULTS) {
        Some((before, after)) => {
            let mut out = String::with_capacity(CLIENT_TEMPLATE.len() + replacement.len());
            out.push_str(before);
            push_js_replacement(&mut out, &replacement, DEFAULTS, before, after);
            out.push_str(after);
            out
        }
        None => CLIENT_TEMPLATE.to_owned(),
    }
}

/// Appends `replacement` as `String.prototype.replace` with a string pattern expands it
/// (ECMA-262 GetSubstitution without captures): `$$` → `$`, `$&` → the match,
/// `` $` `` → the text before it, `$'` → the text after it; anything else verbatim.
fn push_js_replacement(
    out: &mut String,
    replacement: &str,
    matched: &str,
    before: &str,
    after: &str,
) {
    let mut rest = replacement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let expansion = match tail.as_bytes().first() {
            Some(b'$') => Some("$"),
            Some(b'&') => Some(matched),
            Some(b'`') => Some(before),
            Some(b'\'') => Some(after),
            _ => None,
        };
        match expansion {
            Some(text) => {
                out.push_str(text);
                rest = &tail[1..];
            }
            None => {
                out.push('$');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_hold_each_placeholder_once() {
        assert_eq!(PRIMUS_TEMPLATE.matches(PATHNAME).count(), 1);
        assert_eq!(PRIMUS_TEMPLATE.matches(PING_TIMEOUT).count(), 1);
        assert_eq!(CLIENT_TEMPLATE.matches(DEFAULTS).count(), 1);
        assert_eq!(CLIENT_TEMPLATE.matches("%%URL%%").count(), 0);
    }

    #[test]
    fn every_placeholder_is_filled() {
        let mut config = ClientLibraryConfig::default();
        let out = client_library(&config);
        assert!(!out.contains("%%"), "a placeholder is left");
        config.ping_interval = None;
        config.pathname = "ws".to_owned();
        assert!(!client_library(&config).contains("%%"));
    }

    #[test]
    fn default_render() {
        let primus = primus_library("/primus", Some(Duration::from_secs(30)));
        assert!(primus.starts_with("(function UMDish(name, context, definition, plugins) {\n"));
        assert!(primus.ends_with("  return Primus;\n},\n[\n\n]);"));
        assert!(primus.contains("Primus.prototype.pathname = \"/primus\";\n"));
        assert!(primus.contains("options.pingTimeout : 45000;\n"));
        assert!(primus.contains("Primus.prototype.version = \"8.0.9\";\n"));

        let out = client_library(&ClientLibraryConfig::default());
        assert!(out.starts_with(&primus));
        assert!(out[primus.len()..].starts_with(
            "\r\n\r\n\r\n;;;\r\n(function(exports){ \r\nvar ActionheroWebsocketClient = function"
        ));
        assert!(out.contains(
            "ActionheroWebsocketClient.prototype.defaults = function () {\n  return {\n  apiPath: '/api',\n  cookieKey: 'sessionID',\n  url: window.location.origin\n}\n}\n"
        ));
        assert!(out.ends_with(
            "exports.ActionheroWebsocketClient = ActionheroWebsocketClient; \r\n})(typeof exports === 'undefined' ? window : exports);"
        ));
    }

    #[test]
    fn ping_timeout_and_pathname() {
        let lib = |p: &str, ms: Option<u64>| primus_library(p, ms.map(Duration::from_millis));
        assert!(lib("/primus", None).contains("options.pingTimeout : false;"));
        assert!(lib("/primus", Some(0)).contains("options.pingTimeout : false;"));
        assert!(lib("/primus", Some(10_000)).contains("options.pingTimeout : 15000;"));
        assert!(lib("/primus", Some(25)).contains("options.pingTimeout : 38;"));
        assert!(lib("ws", Some(1)).contains("Primus.prototype.pathname = \"/ws\";"));
        assert!(lib("/a$$b$&", Some(1))
            .contains("Primus.prototype.pathname = \"/a$bnull; // @import {primus::pathname}\";"));
    }

    #[test]
    fn fixed_url_and_options() {
        let mut options = Map::new();
        options.insert("timeout".to_owned(), json!(10000));
        options.insert("url".to_owned(), json!("ignored"));
        options.insert("apiPath".to_owned(), json!("/v1"));
        let config = ClientLibraryConfig {
            url: ClientUrl::Fixed("https://example.com".to_owned()),
            options,
            ..ClientLibraryConfig::default()
        };
        assert!(client_library(&config).contains(
            "  return {\n  apiPath: '/v1',\n  cookieKey: 'sessionID',\n  timeout: 10000,\n  url: 'https://example.com'\n}\n"
        ));
    }

    #[test]
    fn dollar_patterns_in_defaults_expand_like_javascript() {
        let mut options = Map::new();
        options.insert("x".to_owned(), json!("$$-$&-$1"));
        let config = ClientLibraryConfig {
            options,
            ..ClientLibraryConfig::default()
        };
        assert!(client_library(&config).contains("x: '$-%%DEFAULTS%%-$1'"));
    }
}
