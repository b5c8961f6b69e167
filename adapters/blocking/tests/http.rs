//! The blocking server's HTTP side over real sockets: recorded Actionhero answers
//! (tests/fixtures/http) replayed byte for byte, keep-alive and pipelining, an upgrade
//! after kept-alive requests, and the `file` verb under the core's file rules.
//! Every decision is the core's (tests/http_routes.rs); these check that the adapter
//! carries them out: reads heads and bodies, serves files, keeps or closes the socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actionhero_ws::client::ClientConfig;
use actionhero_ws::http::WebConfig;
use actionhero_ws_blocking::client::{Client, Config as ClientAdapterConfig};
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{Config, ServerBuilder, ServerHandle};
use serde_json::Value;

/// The mtime of every file of the recording's public directory (`interop/record-http.js`).
const FIXED_MTIME_MS: u64 = 1_704_164_645_678;
const SEPARATOR: &str = "\n=====8<===== response bytes follow =====8<=====\n";
/// How long a reply may pause before the exchange counts as finished (the recorder's).
const IDLE: Duration = Duration::from_millis(300);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The recording's public directory, files dated as they were.
fn public_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ahws-blocking-http-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let simple = fs::read(repo().join("interop/actionhero-server/public/simple.html")).unwrap();
    let png = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
    ];
    let files: [(&str, &[u8]); 7] = [
        (
            "index.html",
            b"<!DOCTYPE html>\n<html><head><title>index</title></head><body>root index</body></html>\n",
        ),
        ("simple.html", &simple),
        ("style.css", b"body { color: #123456; }\n"),
        ("pixel.png", &png),
        ("sub/index.html", b"<p>sub index</p>\n"),
        ("with space.txt", b"a file with a space in its name\n"),
        ("javascript/.keep", b""),
    ];
    let mtime = UNIX_EPOCH + Duration::from_millis(FIXED_MTIME_MS);
    for (name, body) in files {
        let path = dir.join("public").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, body).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    fs::write(dir.join("secret.txt"), "outside the public directory").unwrap();
    dir
}

fn start(dir: &Path, web: WebConfig) -> ServerHandle {
    let config = Config {
        web: WebConfig {
            public_dir: Some(dir.join("public")),
            ..web
        },
        read_timeout: Duration::from_millis(5),
        close_linger: Duration::from_millis(100),
        shutdown_drain: Duration::from_millis(100),
        ..Config::default()
    };
    let mut builder = samples::register(ServerBuilder::new(config));
    for room in samples::STARTING_ROOMS {
        builder = builder.room(room);
    }
    builder.bind("127.0.0.1:0").unwrap()
}

fn stop(server: &ServerHandle) {
    server.shutdown(false);
    assert!(server.join_timeout(Duration::from_secs(5)));
}

/// Writes `request` and reads until the server closes or pauses for [`IDLE`]; returns
/// the bytes and whether the server closed.
fn exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    read_all(&mut s)
}

fn read_all(s: &mut TcpStream) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(IDLE)).unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false)
            }
            Err(_) => return (out, true),
        }
    }
}

/// One response: status line, headers, body.
#[derive(Debug, PartialEq)]
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parts that stay the same between runs: the date, the new fingerprint and
    /// (for JSON) the random, timed and id fields are masked.
    fn stable(mut self) -> Self {
        let json = self
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/json"));
        for (name, value) in &mut self.headers {
            // Header names are case-insensitive (the core writes `Content-Length`, Node
            // `content-length`).
            name.make_ascii_lowercase();
            if name == "date" || name == "set-cookie" || (json && name == "content-length") {
                *value = "*".into();
            }
        }
        if json && !self.body.is_empty() {
            let mut v: Value = serde_json::from_str(&self.body).unwrap();
            for path in [
                "/randomNumber",
                "/stringRandomNumber",
                "/serverInformation/requestDuration",
                "/serverInformation/currentTime",
                "/requesterInformation/id",
                "/requesterInformation/fingerprint",
                "/requesterInformation/messageId",
            ] {
                if let Some(x) = v.pointer_mut(path) {
                    *x = Value::Null;
                }
            }
            self.body = v.to_string();
        }
        self
    }
}

/// Splits a byte stream into responses (`Content-Length` bodies; none for a `304`).
fn responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + len]).into_owned();
        bytes = &bytes[end + 4 + len..];
        out.push(Response {
            status,
            headers,
            body,
        });
    }
    out
}

/// Recorded cases the adapter must answer exactly as Actionhero did (up to the run's
/// own values): static files, 304s, 404s, path traversal, directory indexes, actions,
/// Primus's spec, keep-alive and pipelining, `Connection: close`. Not replayed: the
/// cases where the core answers differently on purpose (`static-traversal-sub-back`:
/// the core refuses every `..`; `api-unknown`: Actionhero reports `receivedParams.action`
/// as `null`, the core as the name; `primus-spec`: the core closes the connection after
/// Primus's answers; see tests/http_routes.rs for the core's own checks).
const REPLAYED: &[&str] = &[
    "static-simple",
    "static-root",
    "static-public-dir",
    "static-sub-slash",
    "static-sub-noslash",
    "static-css",
    "static-space-encoded",
    "static-space-plus",
    "static-missing",
    "static-traversal-dotdot",
    "static-traversal-encoded-dots",
    "static-traversal-encoded-slash",
    "static-ims-equal",
    "static-ims-older",
    "static-304-then-next",
    "path-nope",
    "api-get-random",
    "api-validation-missing",
    "api-post-random",
    "keepalive-two",
    "keepalive-pipelined",
    "proto-connection-close",
    "proto-http10",
];

#[test]
fn recorded_actionhero_answers_replay_exactly() {
    let dir = public_dir("replay");
    let server = start(&dir, WebConfig::default());
    let fixtures = repo().join("tests/fixtures/http/actionhero");
    let index: Value =
        serde_json::from_slice(&fs::read(fixtures.join("index.json")).unwrap()).unwrap();
    for name in REPLAYED {
        let raw = fs::read(fixtures.join(format!("{name}.http"))).unwrap();
        let at = raw
            .windows(SEPARATOR.len())
            .position(|w| w == SEPARATOR.as_bytes())
            .unwrap();
        let (request, recorded) = (&raw[..at], &raw[at + SEPARATOR.len()..]);
        let (answer, closed) = exchange(server.local_addr(), request);
        let want: Vec<Response> = responses(recorded)
            .into_iter()
            .map(Response::stable)
            .collect();
        let got: Vec<Response> = responses(&answer)
            .into_iter()
            .map(Response::stable)
            .collect();
        assert_eq!(got, want, "{name}");
        let case = index["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap();
        assert_eq!(closed, case["closedByServer"] == true, "{name}: closed");
    }
    stop(&server);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn kept_alive_requests_then_an_upgrade_on_one_socket() {
    let dir = public_dir("upgrade");
    let server = start(&dir, WebConfig::default());
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"GET /public/javascript/ActionheroWebsocketClient.js HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_all(&mut s);
    assert!(!closed);
    let library = responses(&bytes).remove(0);
    assert_eq!(library.status, "HTTP/1.1 200 OK");
    assert_eq!(library.get("content-type"), Some("application/javascript"));
    assert!(library
        .body
        .ends_with("})(typeof exports === 'undefined' ? window : exports);"));
    let etag = library.get("etag").unwrap().to_owned();
    s.write_all(
        format!(
            "GET /public/javascript/ActionheroWebsocketClient.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (bytes, _) = read_all(&mut s);
    assert_eq!(responses(&bytes)[0].status, "HTTP/1.1 304 Not Modified");
    s.write_all(
        b"GET /primus?sessionID=abc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let (bytes, closed) = read_all(&mut s);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(!closed);
    // The welcome arrives as the first WebSocket frame.
    assert!(text.contains("Welcome to the actionhero api"), "{text}");
    stop(&server);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_advertised_time() {
    let dir = public_dir("idle");
    let web = WebConfig {
        keep_alive_secs: 1,
        ..WebConfig::default()
    };
    let server = start(&dir, web);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"GET /api/randomNumber HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_all(&mut s);
    assert!(!closed);
    let r = responses(&bytes).remove(0);
    assert_eq!(r.get("keep-alive"), Some("timeout=1"));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let started = SystemTime::now();
    let mut sink = [0u8; 16];
    assert_eq!(s.read(&mut sink).unwrap_or(0), 0, "closed by the server");
    let waited = started.elapsed().unwrap();
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    stop(&server);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_file_verb_follows_the_core_file_rules() {
    let dir = public_dir("verb");
    let web = WebConfig {
        max_file_len: 40,
        ..WebConfig::default()
    };
    fs::write(dir.join("public/big.txt"), [b'x'; 41]).unwrap();
    #[cfg(unix)]
    {
        // The type comes from the requested name, not from the link's target.
        std::os::unix::fs::symlink(dir.join("public/style.css"), dir.join("public/alias.txt"))
            .unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("public/out.txt")).unwrap();
    }
    let server = start(&dir, web);
    let mut config = ClientAdapterConfig {
        core: ClientConfig::default(),
        ..ClientAdapterConfig::default()
    };
    config.core.reconnect.retries = 0;
    let c = Client::connect(&format!("http://{}", server.local_addr()), config).unwrap();
    let r = c.file("sub").unwrap();
    assert_eq!(
        (&r["content"], &r["mime"]),
        (
            &Value::from("<p>sub index</p>\n"),
            &Value::from("text/html")
        )
    );
    let r = c.file("style.css").unwrap();
    assert_eq!(r["lastModified"], "2024-01-02T03:04:05.678Z", "{r}");
    assert_eq!(r["mime"], "text/css");
    #[cfg(unix)]
    {
        let r = c.file("alias.txt").unwrap();
        assert_eq!(r["mime"], "text/plain", "{r}");
        assert!(c.file("out.txt").is_err());
    }
    for refused in ["big.txt", "../secret.txt", "missing.txt", "javascript"] {
        let e = c.file(refused).unwrap_err();
        assert_eq!(e.to_string(), "that file is not found", "{refused}");
    }
    // HTTP applies the same size limit.
    let (bytes, _) = exchange(
        server.local_addr(),
        b"GET /public/big.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(responses(&bytes)[0].status, "HTTP/1.1 404 Not Found");
    c.disconnect();
    stop(&server);
    let _ = fs::remove_dir_all(&dir);
}
